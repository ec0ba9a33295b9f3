"""Before/after benchmark of two kproducer builds against one ack sink, librdkafka alongside.

usage: python3 scripts/bench-ab.py OLD_BENCH_BINARY NEW_BENCH_BINARY
Build each with `cargo build --release -p kproducer-bench` (the old one in a worktree of the
old commit with its own CARGO_TARGET_DIR). Clients alternate, each in its own process; the
summary is the median of 3 runs: records/s and CPU time per record."""
import subprocess, json, sys, statistics
OLD, NEW = sys.argv[1], sys.argv[2]
sink=subprocess.Popen([NEW,"sink"],stdin=subprocess.PIPE,stdout=subprocess.PIPE,text=True)
addr=sink.stdout.readline().strip().split()[-1]
print("sink", addr, flush=True)
res={}
for size,n in [(100,3_000_000),(1024,1_000_000)]:
  for acks in ["1","all"]:
    w=json.dumps({"record_size":size,"acks":acks,"compression":"none","linger_ms":5,"batch_size":16384})
    for rep in range(3):
      for name,binary,client in [("old",OLD,"kproducer"),("new",NEW,"kproducer"),("rdkafka",NEW,"librdkafka")]:
        out=subprocess.run([binary,"client","--client",client,"--bootstrap",addr,"--topic",f"ab-{name}-{size}-{acks}-{rep}","--workload",w,"--records",str(n)],capture_output=True,text=True,timeout=600)
        line=[l for l in out.stdout.splitlines() if l.startswith("{")]
        if not line: print("ERR",name,out.stderr[-500:],flush=True); continue
        r=json.loads(line[-1]); rate=r["acked"]/r["elapsed_s"]; cpu=r["cpu_s"]/max(r["acked"],1)*1e6
        res.setdefault((size,acks,name),[]).append((rate,cpu))
        print(size,acks,name,rep,f"{rate/1e6:.2f}M/s {cpu:.3f}us",flush=True)
print("\nsummary (median of 3): rate M rec/s, CPU us/record")
for size in [100,1024]:
  for acks in ["1","all"]:
    row=[]
    for name in ["old","new","rdkafka"]:
      v=res.get((size,acks,name),[])
      if v: row.append(f"{name} {statistics.median(x[0] for x in v)/1e6:.2f}M {statistics.median(x[1] for x in v):.3f}us")
    print(size,acks," | ".join(row))
sink.stdin.close()

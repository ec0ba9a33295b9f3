// franz-bench: franz-go's producer (github.com/twmb/franz-go/pkg/kgo) driven like the other clients
// of kproducer-bench: one warm-up record (metadata, connection), then N records of S bytes as fast
// as they go, or paced at -rate records/s with send-to-ack latency recorded. Prints one JSON line
// with the same fields as kproducer-bench's ClientResult. CPU time and peak RSS are the process's
// own (getrusage), CPU over the measured phase only.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

type result struct {
	Client    string  `json:"client"`
	Acked     uint64  `json:"acked"`
	Failed    uint64  `json:"failed"`
	ElapsedS  float64 `json:"elapsed_s"`
	CPUS      float64 `json:"cpu_s"`
	MaxRSSKiB int64   `json:"max_rss_kib"`
	P50Us     *uint64 `json:"p50_us"`
	P99Us     *uint64 `json:"p99_us"`
}

func usage() (cpu time.Duration, maxRSSKiB int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-bench: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "bootstrap.servers")
	topic := flag.String("topic", "", "topic")
	records := flag.Uint64("records", 100000, "records after the warm-up record")
	size := flag.Int("size", 100, "value size in bytes")
	acks := flag.String("acks", "1", "acks: 0, 1 or all")
	compression := flag.String("compression", "none", "none, gzip, snappy, lz4, zstd")
	lingerMs := flag.Int("linger-ms", 5, "linger.ms")
	batchSize := flag.Int("batch-size", 16384, "batch.size (ProducerBatchMaxBytes)")
	rate := flag.Float64("rate", 0, "records/s; 0: as fast as possible")
	maxKafka := flag.String("max-kafka", "", "cap request versions at this Kafka release (4.0, 3.9); empty: no cap")
	payloadFile := flag.String("payload-file", "", "values, one per line, cycled through; empty: -size bytes of 'x'")
	defaults := flag.Bool("defaults", false, "franz-go's own defaults: only acks and compression are set (-linger-ms and -batch-size ignored)")
	flag.Parse()
	if *topic == "" {
		fail("-topic is required")
	}

	var ack kgo.Acks
	switch *acks {
	case "0":
		ack = kgo.NoAck()
	case "1":
		ack = kgo.LeaderAck()
	case "all", "-1":
		ack = kgo.AllISRAcks()
	default:
		fail("unknown acks %q", *acks)
	}
	var codec kgo.CompressionCodec
	switch *compression {
	case "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		fail("unknown compression %q", *compression)
	}

	opts := []kgo.Opt{
		kgo.SeedBrokers(*bootstrap),
		kgo.DefaultProduceTopic(*topic),
		kgo.RequiredAcks(ack),
		kgo.ProducerBatchCompression(codec),
	}
	if !*defaults {
		opts = append(opts,
			kgo.ProducerLinger(time.Duration(*lingerMs)*time.Millisecond),
			kgo.ProducerBatchMaxBytes(int32(*batchSize)),
			kgo.DisableIdempotentWrite(),
			kgo.MaxProduceRequestsInflightPerBroker(5),
			// Java's buffer.memory (32 MiB) is the bound, as for the other clients; not a record count.
			kgo.MaxBufferedBytes(32<<20),
			kgo.MaxBufferedRecords(10_000_000),
		)
	} else if *acks != "all" && *acks != "-1" {
		// kgo refuses idempotence without acks=all (Java quietly turns it off the same way).
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch *maxKafka {
	case "":
	case "4.0":
		opts = append(opts, kgo.MaxVersions(kversion.V4_0_0()))
	case "3.9":
		opts = append(opts, kgo.MaxVersions(kversion.V3_9_0()))
	default:
		fail("unknown -max-kafka %q (4.0, 3.9)", *maxKafka)
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		fail("creating the client: %v", err)
	}
	defer client.Close()
	ctx := context.Background()
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = 'x'
	}
	payloads := [][]byte{payload}
	if *payloadFile != "" {
		data, err := os.ReadFile(*payloadFile)
		if err != nil {
			fail("reading -payload-file: %v", err)
		}
		payloads = bytes.Split(data, []byte("\n"))
		payload = payloads[0]
	}

	if err := client.ProduceSync(ctx, &kgo.Record{Value: payload}).FirstErr(); err != nil {
		fail("warm-up record: %v", err)
	}

	var acked, failed atomic.Uint64
	var firstErr atomic.Value
	paced := *rate > 0
	var mu sync.Mutex
	var lat []uint64
	if paced {
		lat = make([]uint64, 0, *records)
	}
	cpu0, _ := usage()
	t0 := time.Now()
	for i := uint64(0); i < *records; i++ {
		var sent time.Time
		if paced {
			due := t0.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
			if d := time.Until(due); d > time.Millisecond {
				time.Sleep(d)
			}
			sent = time.Now()
		}
		client.Produce(ctx, &kgo.Record{Value: payloads[i%uint64(len(payloads))]}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				acked.Add(1)
			}
			if paced {
				us := uint64(time.Since(sent).Microseconds())
				mu.Lock()
				lat = append(lat, us)
				mu.Unlock()
			}
		})
	}
	if err := client.Flush(ctx); err != nil {
		fail("flush: %v", err)
	}
	elapsed := time.Since(t0)
	cpu1, _ := usage()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "franz-bench: first send error: %v\n", e)
	}

	res := result{
		Client:   "franz-go",
		Acked:    acked.Load(),
		Failed:   failed.Load(),
		ElapsedS: elapsed.Seconds(),
		CPUS:     (cpu1 - cpu0).Seconds(),
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		// Nearest rank, as HdrHistogram's value_at_quantile.
		at := func(q float64) *uint64 {
			i := int(q*float64(len(lat))+0.5) - 1
			i = max(0, min(i, len(lat)-1))
			v := lat[i]
			return &v
		}
		res.P50Us, res.P99Us = at(0.5), at(0.99)
	}
	_, res.MaxRSSKiB = usage()
	out, err := json.Marshal(res)
	if err != nil {
		fail("encoding the result: %v", err)
	}
	fmt.Println(string(out))
}

// Java's own client as a reference for kproducer's tests (compiled by scripts/setup.sh against
// kafka-clients; run by kproducer-testkit's java_produce / java_consume).
//
//   java Interop produce --bootstrap B --topic T [--config producer.properties] [--prop k=v]...
//       stdin: one record per line, tab-separated:
//         partition|-  timestamp|-  key-base64|-  value-base64|-  [header-key-base64:value-base64|-]...
//       ("-" is null; an empty field is an empty byte array). Sends every record with
//       KafkaProducer<byte[], byte[]> (default partitioner), then prints one JSON line with the
//       effective config of the keys given, then one JSON line per record in input order:
//         {"i":N,"partition":P,"offset":O,"timestamp":T} or {"i":N,"error":"..."}
//       With --hold-ms H: every record but the last is sent and flushed, then the producer stays
//       open H ms (KIP-714 telemetry pushes go on meanwhile; it first prints its telemetry
//       client instance id, waited for at most H ms: {"clientInstanceId":"..."} or
//       {"clientInstanceIdError":"..."}), then the last record is sent and the producer closed
//       at once: a send in flight at close is what gets Java's best-effort terminating push out.
//   java Interop consume --bootstrap B --topic T [--expected N] [--timeout-ms M]
//       [--isolation read_uncommitted|read_committed] [--prop k=v]...
//       Reads every partition from the beginning with KafkaConsumer (assign, no group) up to
//       the end offsets (the last stable offsets with read_committed) and at least N records,
//       printing one JSON line per record:
//         {"partition":P,"offset":O,"key":b64|null,"value":b64|null,
//          "headers":[{"key":"..","value":b64|null}],"timestamp":T,"timestampType":"CreateTime"}
//   java Interop move-leader --bootstrap B --topic T (--partition P --to BROKER | --moves P:BROKER[,P:BROKER]...)
//       [--timeout-ms M]
//       Controlled leader moves, no broker failure: with Java's Admin, reorders each partition's
//       replicas so BROKER comes first (alterPartitionReassignments; same replica set, so no data
//       moves), then runs a preferred leader election and waits until describeTopics shows
//       BROKER as leader. Prints one JSON line per partition:
//         {"partition":P,"from":OLD_LEADER,"to":BROKER,"ms":ELAPSED}
//   java Interop produce-txn --bootstrap B --topic T --transactional-id ID --per-transaction N
//       [--abort-every K] [--leave-last-open true] [--offsets-group G --offsets-topic OT
//       --offsets-partition OP] [--prop k=v]...
//       stdin: records as for produce. A transactional KafkaProducer: initTransactions, then per
//       N records beginTransaction, send, (sendOffsetsToTransaction of {OT-OP: records sent so
//       far} for group G), flush, and commitTransaction, or abortTransaction for every K-th
//       transaction (1-based: K, 2K, ...). With --leave-last-open the last transaction is
//       flushed and the JVM halts without ending it. Prints per record
//         {"i":N,"txn":T,"partition":P,"offset":O}
//       per transaction {"txn":T,"outcome":"committed"|"aborted"|"open","records":R}, and at the
//       end {"describe":{...}} (describeTransactions of ID) unless it halted; an error
//       {"error":"...","txn":T} and exit 1.
//   java Interop committed-offsets --bootstrap B --group G
//       Admin listConsumerGroupOffsets(G): one line {"topic":T,"partition":P,"offset":O} each.
//   java Interop describe-txn --bootstrap B --transactional-id ID
//       Admin describeTransactions(ID): {"coordinator":C,"state":S,"producerId":P,"epoch":E,
//       "timeoutMs":M,"partitions":["t-0",...]}; for an id the coordinator does not know,
//       {"coordinator":C,"state":null} with C the leader of its __transaction_state partition.
//   java Interop features --bootstrap B [--set NAME=LEVEL[,NAME=LEVEL]...] [--unsafe true]
//       Optionally Admin updateFeatures (UPGRADE or SAFE_DOWNGRADE as needed; UNSAFE_DOWNGRADE
//       with --unsafe), then describeFeatures: {"epoch":E,"finalized":{"name":LEVEL,...}}.
//   java Interop client-metrics --bootstrap B --name N (--metrics P[,P]... --interval-ms M
//       [--match K=V[,K=V]...] | --delete true) [--timeout-ms T]
//       A KIP-714 client-metrics subscription (ConfigResource.Type.CLIENT_METRICS N) set with
//       Admin incrementalAlterConfigs to exactly these `metrics` prefixes, `interval.ms` and
//       `match` (deleted when not given), or with --delete all three deleted; then waits (at
//       most T ms, default 30000) until describeConfigs shows it and prints
//         {"name":N,"configs":{"metrics":"..","interval.ms":"..","match":".."}}
//       (only the keys set, so {} once deleted).
// Exit status: 0 when everything was delivered / read / moved, 1 otherwise, 2 on bad usage.

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

public final class Interop {
    private static final Base64.Encoder B64 = Base64.getEncoder();
    private static final Base64.Decoder UNB64 = Base64.getDecoder();

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            usage("missing command");
        }
        Map<String, String> opts = new HashMap<>();
        Map<String, String> extra = new LinkedHashMap<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--") || i + 1 >= args.length) {
                usage("bad argument " + a);
            }
            String v = args[++i];
            if (a.equals("--prop")) {
                int eq = v.indexOf('=');
                if (eq < 0) {
                    usage("--prop needs key=value");
                }
                extra.put(v.substring(0, eq), v.substring(eq + 1));
            } else {
                opts.put(a.substring(2), v);
            }
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        int status;
        switch (args[0]) {
            case "produce":
                status = produce(opts, extra, out);
                break;
            case "consume":
                status = consume(opts, extra, out);
                break;
            case "produce-txn":
                status = produceTxn(opts, extra, out);
                break;
            case "committed-offsets":
                status = committedOffsets(opts, out);
                break;
            case "describe-txn":
                status = describeTxn(opts, out);
                break;
            case "features":
                status = features(opts, out);
                break;
            case "client-metrics":
                status = clientMetrics(opts, out);
                break;
            case "move-leader":
                status = moveLeader(opts, out);
                break;
            default:
                usage("unknown command " + args[0]);
                return;
        }
        out.flush();
        System.exit(status);
    }

    private static void usage(String why) {
        System.err.println("Interop: " + why
            + "\nusage: Interop produce --bootstrap B --topic T [--config FILE] [--hold-ms H] [--prop k=v]..."
            + "\n       Interop consume --bootstrap B --topic T [--expected N] [--timeout-ms M]"
            + " [--isolation read_committed|read_uncommitted] [--prop k=v]..."
            + "\n       Interop produce-txn --bootstrap B --topic T --transactional-id ID --per-transaction N"
            + " [--abort-every K] [--leave-last-open true] [--offsets-group G --offsets-topic T"
            + " --offsets-partition P] [--prop k=v]..."
            + "\n       Interop committed-offsets --bootstrap B --group G"
            + "\n       Interop describe-txn --bootstrap B --transactional-id ID"
            + "\n       Interop features --bootstrap B [--set NAME=LEVEL,...] [--unsafe true]"
            + "\n       Interop move-leader --bootstrap B --topic T (--partition P --to BROKER | --moves P:BROKER,...)"
            + " [--timeout-ms M]"
            + "\n       Interop client-metrics --bootstrap B --name N (--metrics P,... --interval-ms M"
            + " [--match K=V,...] | --delete true) [--timeout-ms T]");
        System.exit(2);
    }

    private static String required(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null) {
            usage("missing --" + name);
        }
        return v;
    }

    private static byte[] field(String s) {
        return s.equals("-") ? null : UNB64.decode(s);
    }

    private static int produce(Map<String, String> opts, Map<String, String> extra, PrintStream out)
            throws Exception {
        String topic = required(opts, "topic");
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        List<String> given = new ArrayList<>();
        String file = opts.get("config");
        if (file != null) {
            Properties fromFile = new Properties();
            try (FileInputStream in = new FileInputStream(file)) {
                fromFile.load(in);
            }
            for (String k : fromFile.stringPropertyNames()) {
                props.put(k, fromFile.getProperty(k));
                given.add(k);
            }
        }
        for (Map.Entry<String, String> e : extra.entrySet()) {
            props.put(e.getKey(), e.getValue());
            given.add(e.getKey());
        }
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        // The effective value of every key the caller set, as Java's ConfigDef parsed it.
        Map<String, ?> parsed = new ProducerConfig(props).values();
        StringBuilder cfg = new StringBuilder("{\"config\":{");
        boolean first = true;
        for (String k : given) {
            if (!first) {
                cfg.append(',');
            }
            first = false;
            cfg.append(json(k)).append(':').append(json(render(parsed.get(k))));
        }
        out.println(cfg.append("}}"));

        List<Future<RecordMetadata>> futures = new ArrayList<>();
        int failed = 0;
        long holdMs = Long.parseLong(opts.getOrDefault("hold-ms", "0"));
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            // With --hold-ms the last record waits until the producer closes.
            String last = null;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                if (holdMs <= 0) {
                    futures.add(producer.send(record(topic, line)));
                    continue;
                }
                if (last != null) {
                    futures.add(producer.send(record(topic, last)));
                }
                last = line;
            }
            producer.flush();
            if (holdMs > 0) {
                long until = System.currentTimeMillis() + holdMs;
                try {
                    Uuid id = producer.clientInstanceId(Duration.ofMillis(holdMs));
                    out.println("{\"clientInstanceId\":" + json(String.valueOf(id)) + "}");
                } catch (Exception e) {
                    out.println("{\"clientInstanceIdError\":" + json(why(e)) + "}");
                }
                out.flush();
                long left = until - System.currentTimeMillis();
                if (left > 0) {
                    Thread.sleep(left);
                }
                // Java's terminating telemetry push is best effort (KAFKA-17731): close() only
                // marks it needed, and it goes out if the sender thread polls once more. A record
                // still unsent at close keeps the sender polling until it is delivered.
                if (last != null) {
                    futures.add(producer.send(record(topic, last)));
                }
            }
        }
        // Closed: every send has completed.
        for (int i = 0; i < futures.size(); i++) {
            try {
                RecordMetadata md = futures.get(i).get();
                out.println("{\"i\":" + i + ",\"partition\":" + md.partition() + ",\"offset\":"
                    + md.offset() + ",\"timestamp\":" + md.timestamp() + "}");
            } catch (Exception e) {
                failed++;
                out.println("{\"i\":" + i + ",\"error\":" + json(why(e)) + "}");
            }
        }
        return failed == 0 ? 0 : 1;
    }

    private static int consume(Map<String, String> opts, Map<String, String> extra, PrintStream out) {
        String topic = required(opts, "topic");
        long expected = Long.parseLong(opts.getOrDefault("expected", "0"));
        long deadline = System.currentTimeMillis() + Long.parseLong(opts.getOrDefault("timeout-ms", "60000"));
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        String isolation = opts.getOrDefault("isolation", "read_uncommitted");
        if (!isolation.equals("read_committed") && !isolation.equals("read_uncommitted")) {
            usage("--isolation must be read_committed or read_uncommitted, got " + isolation);
        }
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        props.putAll(extra);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> tps = new ArrayList<>();
            while (tps.isEmpty()) {
                List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
                if (infos != null) {
                    for (PartitionInfo p : infos) {
                        tps.add(new TopicPartition(topic, p.partition()));
                    }
                }
                if (tps.isEmpty() && System.currentTimeMillis() > deadline) {
                    System.err.println("Interop: no metadata for topic " + topic);
                    return 1;
                }
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long read = 0;
            Map<TopicPartition, Long> end = consumer.endOffsets(tps);
            while (true) {
                boolean atEnd = true;
                for (TopicPartition tp : tps) {
                    if (consumer.position(tp) < end.get(tp)) {
                        atEnd = false;
                        break;
                    }
                }
                if (atEnd && read >= expected) {
                    return 0;
                }
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("Interop: timed out after " + read + " records (expected " + expected + ")");
                    return 1;
                }
                if (atEnd) {
                    // Records may still be arriving: look at the end offsets again.
                    end = consumer.endOffsets(tps);
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    read++;
                    StringBuilder sb = new StringBuilder("{\"partition\":").append(r.partition())
                        .append(",\"offset\":").append(r.offset())
                        .append(",\"key\":").append(b64(r.key()))
                        .append(",\"value\":").append(b64(r.value()))
                        .append(",\"headers\":[");
                    boolean first = true;
                    for (Header h : r.headers()) {
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        sb.append("{\"key\":").append(json(h.key())).append(",\"value\":").append(b64(h.value())).append('}');
                    }
                    sb.append("],\"timestamp\":").append(r.timestamp())
                        .append(",\"timestampType\":").append(json(r.timestampType().name)).append('}');
                    out.println(sb);
                }
            }
        }
    }

    private static int moveLeader(Map<String, String> opts, PrintStream out) throws Exception {
        String topic = required(opts, "topic");
        long started = System.currentTimeMillis();
        long deadline = started + Long.parseLong(opts.getOrDefault("timeout-ms", "60000"));
        // partition -> the broker that should lead it.
        Map<Integer, Integer> targets = new TreeMap<>();
        String moves = opts.get("moves");
        if (moves != null) {
            for (String m : moves.split(",")) {
                int colon = m.indexOf(':');
                if (colon < 0) {
                    usage("--moves needs PARTITION:BROKER pairs, got " + m);
                }
                targets.put(Integer.valueOf(m.substring(0, colon).trim()), Integer.valueOf(m.substring(colon + 1).trim()));
            }
        } else {
            targets.put(Integer.valueOf(required(opts, "partition")), Integer.valueOf(required(opts, "to")));
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        try (Admin admin = Admin.create(props)) {
            Map<Integer, TopicPartitionInfo> before = describe(admin, topic);
            Map<TopicPartition, Optional<NewPartitionReassignment>> reorder = new HashMap<>();
            Map<Integer, Integer> from = new TreeMap<>();
            for (Map.Entry<Integer, Integer> t : targets.entrySet()) {
                TopicPartitionInfo info = before.get(t.getKey());
                if (info == null) {
                    System.err.println("Interop: topic " + topic + " has no partition " + t.getKey());
                    return 1;
                }
                from.put(t.getKey(), info.leader() == null ? -1 : info.leader().id());
                List<Integer> replicas = new ArrayList<>();
                replicas.add(t.getValue());
                boolean member = false;
                for (Node n : info.replicas()) {
                    if (n.id() == t.getValue()) {
                        member = true;
                    } else {
                        replicas.add(n.id());
                    }
                }
                if (!member) {
                    // A reorder only: adding a replica would copy data and take far longer.
                    System.err.println("Interop: broker " + t.getValue() + " is not a replica of " + topic
                        + "-" + t.getKey() + " (replicas " + info.replicas() + ")");
                    return 1;
                }
                reorder.put(new TopicPartition(topic, t.getKey()), Optional.of(new NewPartitionReassignment(replicas)));
            }
            admin.alterPartitionReassignments(reorder).all().get();
            // Same replica set: the reassignment completes at once, but wait for it to be sure
            // the preferred replica (the first one) is the new target before electing.
            while (!admin.listPartitionReassignments(reorder.keySet()).reassignments().get().isEmpty()) {
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("Interop: the replica reorder did not complete in time");
                    return 1;
                }
                Thread.sleep(50);
            }
            Set<TopicPartition> pending = new java.util.HashSet<>(reorder.keySet());
            String lastError = "none";
            while (true) {
                if (!pending.isEmpty()) {
                    Map<TopicPartition, Optional<Throwable>> result =
                        admin.electLeaders(ElectionType.PREFERRED, pending).partitions().get();
                    for (Map.Entry<TopicPartition, Optional<Throwable>> r : result.entrySet()) {
                        Optional<Throwable> err = r.getValue();
                        if (err.isEmpty() || err.get() instanceof ElectionNotNeededException) {
                            pending.remove(r.getKey());
                        } else {
                            // E.g. the preferred replica is briefly out of the ISR: try again.
                            lastError = r.getKey() + ": " + err.get();
                        }
                    }
                }
                Map<Integer, TopicPartitionInfo> now = describe(admin, topic);
                boolean done = pending.isEmpty();
                for (Map.Entry<Integer, Integer> t : targets.entrySet()) {
                    Node leader = now.get(t.getKey()).leader();
                    if (leader == null || leader.id() != t.getValue()) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("Interop: leaders did not move in time (last election error: " + lastError
                        + "; partitions now: " + now + ")");
                    return 1;
                }
                Thread.sleep(50);
            }
            long ms = System.currentTimeMillis() - started;
            for (Map.Entry<Integer, Integer> t : targets.entrySet()) {
                out.println("{\"partition\":" + t.getKey() + ",\"from\":" + from.get(t.getKey()) + ",\"to\":"
                    + t.getValue() + ",\"ms\":" + ms + "}");
            }
        }
        return 0;
    }

    /** One stdin record line (see the header) as a ProducerRecord for topic. */
    private static ProducerRecord<byte[], byte[]> record(String topic, String line) {
        String[] f = line.split("\t", -1);
        if (f.length < 4) {
            throw new IllegalArgumentException("record line needs 4 fields: " + line);
        }
        Integer partition = f[0].equals("-") ? null : Integer.valueOf(f[0]);
        Long timestamp = f[1].equals("-") ? null : Long.valueOf(f[1]);
        List<Header> headers = new ArrayList<>();
        for (int i = 4; i < f.length; i++) {
            int colon = f[i].indexOf(':');
            String hk = new String(UNB64.decode(f[i].substring(0, colon)), StandardCharsets.UTF_8);
            headers.add(new RecordHeader(hk, field(f[i].substring(colon + 1))));
        }
        return new ProducerRecord<>(topic, partition, timestamp, field(f[2]), field(f[3]), headers);
    }

    /** The whole cause chain of a failure, without the ExecutionException wrapper. */
    private static String why(Throwable e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        // The whole chain: e.g. an SSL handshake failure's root cause (expired
        // certificate, unknown issuer, host name mismatch) is several levels down.
        StringBuilder why = new StringBuilder(cause.toString());
        for (Throwable c = cause.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            why.append("; caused by ").append(c);
        }
        return why.toString();
    }

    private static int produceTxn(Map<String, String> opts, Map<String, String> extra, PrintStream out)
            throws Exception {
        String topic = required(opts, "topic");
        String bootstrap = required(opts, "bootstrap");
        String txnId = required(opts, "transactional-id");
        int perTxn = Integer.parseInt(required(opts, "per-transaction"));
        int abortEvery = Integer.parseInt(opts.getOrDefault("abort-every", "0"));
        boolean leaveLastOpen = Boolean.parseBoolean(opts.getOrDefault("leave-last-open", "false"));
        String group = opts.get("offsets-group");
        TopicPartition offsetsTp = group == null ? null
            : new TopicPartition(required(opts, "offsets-topic"), Integer.parseInt(required(opts, "offsets-partition")));
        if (perTxn < 1) {
            usage("--per-transaction must be at least 1");
        }
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        props.putAll(extra);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (!line.isEmpty()) {
                    records.add(record(topic, line));
                }
            }
        }
        int txns = (records.size() + perTxn - 1) / perTxn;
        int txn = 0;
        // The group's metadata as an application's consumer gives it: never subscribed, so no
        // member id and no generation (the group is only committed to, never joined).
        ConsumerGroupMetadata groupMetadata = null;
        if (group != null) {
            Properties cprops = new Properties();
            cprops.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            cprops.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            cprops.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cprops.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cprops)) {
                groupMetadata = consumer.groupMetadata();
            }
        }
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            try {
                producer.initTransactions();
                for (txn = 1; txn <= txns; txn++) {
                    int from = (txn - 1) * perTxn;
                    int to = Math.min(records.size(), from + perTxn);
                    producer.beginTransaction();
                    List<Future<RecordMetadata>> futures = new ArrayList<>();
                    for (int i = from; i < to; i++) {
                        futures.add(producer.send(records.get(i)));
                    }
                    if (group != null) {
                        // As if records [0, to) of OT-OP had been consumed and processed.
                        producer.sendOffsetsToTransaction(Map.of(offsetsTp, new OffsetAndMetadata(to)),
                            groupMetadata);
                    }
                    // Flushed first even when aborting, so every record has its offset to report.
                    producer.flush();
                    for (int i = from; i < to; i++) {
                        RecordMetadata md = futures.get(i - from).get();
                        out.println("{\"i\":" + i + ",\"txn\":" + txn + ",\"partition\":" + md.partition()
                            + ",\"offset\":" + md.offset() + "}");
                    }
                    String outcome;
                    if (leaveLastOpen && txn == txns) {
                        outcome = "open";
                    } else if (abortEvery > 0 && txn % abortEvery == 0) {
                        producer.abortTransaction();
                        outcome = "aborted";
                    } else {
                        producer.commitTransaction();
                        outcome = "committed";
                    }
                    out.println("{\"txn\":" + txn + ",\"outcome\":\"" + outcome + "\",\"records\":" + (to - from) + "}");
                    if (outcome.equals("open")) {
                        // Neither commit nor abort (close() would abort): the transaction stays
                        // open on the brokers until transaction.timeout.ms or a newer producer
                        // with the same transactional id fences this one.
                        out.flush();
                        Runtime.getRuntime().halt(0);
                    }
                }
            } catch (Exception e) {
                out.println("{\"error\":" + json(why(e)) + ",\"txn\":" + txn + "}");
                return 1;
            }
        }
        try (Admin admin = Admin.create(adminProps(bootstrap))) {
            out.println("{\"describe\":" + describeTxnJson(admin, txnId) + "}");
        }
        return 0;
    }

    private static Properties adminProps(String bootstrap) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return props;
    }

    private static int committedOffsets(Map<String, String> opts, PrintStream out) throws Exception {
        String group = required(opts, "group");
        try (Admin admin = Admin.create(adminProps(required(opts, "bootstrap")))) {
            Map<TopicPartition, OffsetAndMetadata> offsets =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
                if (e.getValue() == null) {
                    continue;
                }
                out.println("{\"topic\":" + json(e.getKey().topic()) + ",\"partition\":" + e.getKey().partition()
                    + ",\"offset\":" + e.getValue().offset() + "}");
            }
        }
        return 0;
    }

    private static int describeTxn(Map<String, String> opts, PrintStream out) throws Exception {
        try (Admin admin = Admin.create(adminProps(required(opts, "bootstrap")))) {
            out.println(describeTxnJson(admin, required(opts, "transactional-id")));
        }
        return 0;
    }

    private static String describeTxnJson(Admin admin, String txnId) throws Exception {
        try {
            TransactionDescription d = admin.describeTransactions(List.of(txnId)).description(txnId).get();
            StringBuilder parts = new StringBuilder();
            for (TopicPartition tp : d.topicPartitions()) {
                if (parts.length() > 0) {
                    parts.append(',');
                }
                parts.append(json(tp.toString()));
            }
            return "{\"coordinator\":" + d.coordinatorId() + ",\"state\":" + json(d.state().toString())
                + ",\"producerId\":" + d.producerId() + ",\"epoch\":" + d.producerEpoch()
                + ",\"timeoutMs\":" + d.transactionTimeoutMs() + ",\"partitions\":[" + parts + "]}";
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TransactionalIdNotFoundException)) {
                throw e;
            }
            // Unknown to its coordinator: the coordinator is still the leader of the id's
            // partition of __transaction_state (TransactionStateManager.partitionFor).
            Map<Integer, TopicPartitionInfo> parts = describe(admin, "__transaction_state");
            int partition = Utils.abs(txnId.hashCode()) % parts.size();
            Node leader = parts.get(partition).leader();
            return "{\"coordinator\":" + (leader == null ? -1 : leader.id()) + ",\"state\":null}";
        }
    }

    private static int features(Map<String, String> opts, PrintStream out) throws Exception {
        try (Admin admin = Admin.create(adminProps(required(opts, "bootstrap")))) {
            String set = opts.get("set");
            if (set != null) {
                boolean unsafe = Boolean.parseBoolean(opts.getOrDefault("unsafe", "false"));
                Map<String, FinalizedVersionRange> now = admin.describeFeatures().featureMetadata().get().finalizedFeatures();
                Map<String, FeatureUpdate> updates = new HashMap<>();
                for (String kv : set.split(",")) {
                    int eq = kv.indexOf('=');
                    if (eq < 0) {
                        usage("--set needs NAME=LEVEL pairs, got " + kv);
                    }
                    String name = kv.substring(0, eq).trim();
                    short level = Short.parseShort(kv.substring(eq + 1).trim());
                    FinalizedVersionRange current = now.get(name);
                    boolean down = current != null && level < current.maxVersionLevel();
                    FeatureUpdate.UpgradeType type = !down ? FeatureUpdate.UpgradeType.UPGRADE
                        : unsafe ? FeatureUpdate.UpgradeType.UNSAFE_DOWNGRADE : FeatureUpdate.UpgradeType.SAFE_DOWNGRADE;
                    updates.put(name, new FeatureUpdate(level, type));
                }
                admin.updateFeatures(updates, new UpdateFeaturesOptions()).all().get();
            }
            FeatureMetadata md = admin.describeFeatures().featureMetadata().get();
            StringBuilder sb = new StringBuilder("{\"epoch\":").append(md.finalizedFeaturesEpoch().orElse(-1L))
                .append(",\"finalized\":{");
            boolean first = true;
            for (Map.Entry<String, FinalizedVersionRange> e : new TreeMap<>(md.finalizedFeatures()).entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append(json(e.getKey())).append(':').append(e.getValue().maxVersionLevel());
            }
            out.println(sb.append("}}"));
        }
        return 0;
    }

    private static final List<String> CLIENT_METRICS_KEYS = List.of("metrics", "interval.ms", "match");

    private static int clientMetrics(Map<String, String> opts, PrintStream out) throws Exception {
        String name = required(opts, "name");
        boolean delete = Boolean.parseBoolean(opts.getOrDefault("delete", "false"));
        long timeoutMs = Long.parseLong(opts.getOrDefault("timeout-ms", "30000"));
        Map<String, String> want = new TreeMap<>();
        if (!delete) {
            want.put("metrics", required(opts, "metrics"));
            want.put("interval.ms", required(opts, "interval-ms"));
            String match = opts.get("match");
            if (match != null && !match.isEmpty()) {
                want.put("match", match);
            }
        }
        ConfigResource resource = new ConfigResource(ConfigResource.Type.CLIENT_METRICS, name);
        List<AlterConfigOp> ops = new ArrayList<>();
        for (String key : CLIENT_METRICS_KEYS) {
            String v = want.get(key);
            ops.add(v == null
                ? new AlterConfigOp(new ConfigEntry(key, ""), AlterConfigOp.OpType.DELETE)
                : new AlterConfigOp(new ConfigEntry(key, v), AlterConfigOp.OpType.SET));
        }
        try (Admin admin = Admin.create(adminProps(required(opts, "bootstrap")))) {
            admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get();
            // The broker applies it from the metadata log: wait until it describes what was set.
            long deadline = System.currentTimeMillis() + timeoutMs;
            Map<String, String> now;
            while (true) {
                now = new TreeMap<>();
                try {
                    Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
                    for (ConfigEntry e : config.entries()) {
                        if (CLIENT_METRICS_KEYS.contains(e.name()) && e.value() != null
                                && e.source() != ConfigEntry.ConfigSource.DEFAULT_CONFIG) {
                            now.put(e.name(), e.value());
                        }
                    }
                } catch (ExecutionException e) {
                    // A deleted subscription may be unknown: nothing set.
                }
                if (now.equals(want)) {
                    break;
                }
                if (System.currentTimeMillis() >= deadline) {
                    System.err.println("client-metrics " + name + ": describeConfigs shows " + now
                        + ", not " + want + ", after " + timeoutMs + " ms");
                    return 1;
                }
                Thread.sleep(100);
            }
            StringBuilder sb = new StringBuilder("{\"name\":").append(json(name)).append(",\"configs\":{");
            boolean first = true;
            for (Map.Entry<String, String> e : now.entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                sb.append(json(e.getKey())).append(':').append(json(e.getValue()));
            }
            out.println(sb.append("}}"));
        }
        return 0;
    }

    private static Map<Integer, TopicPartitionInfo> describe(Admin admin, String topic) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
        Map<Integer, TopicPartitionInfo> byPartition = new TreeMap<>();
        for (TopicPartitionInfo p : d.partitions()) {
            byPartition.put(p.partition(), p);
        }
        return byPartition;
    }

    private static String render(Object v) {
        if (v == null) {
            return null;
        }
        if (v instanceof Class) {
            return ((Class<?>) v).getName();
        }
        if (v instanceof Collection) {
            StringBuilder sb = new StringBuilder();
            for (Object o : (Collection<?>) v) {
                if (sb.length() > 0) {
                    sb.append(',');
                }
                sb.append(render(o));
            }
            return sb.toString();
        }
        return v.toString();
    }

    private static String b64(byte[] b) {
        return b == null ? "null" : "\"" + B64.encodeToString(b) + "\"";
    }

    private static String json(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                default:
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        return sb.append('"').toString();
    }
}

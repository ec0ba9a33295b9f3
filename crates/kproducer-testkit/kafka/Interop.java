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
//   java Interop consume --bootstrap B --topic T [--expected N] [--timeout-ms M]
//       Reads every partition from the beginning with KafkaConsumer (assign, no group) up to
//       the end offsets (and at least N records), printing one JSON line per record:
//         {"partition":P,"offset":O,"key":b64|null,"value":b64|null,
//          "headers":[{"key":"..","value":b64|null}],"timestamp":T,"timestampType":"CreateTime"}
//   java Interop move-leader --bootstrap B --topic T (--partition P --to BROKER | --moves P:BROKER[,P:BROKER]...)
//       [--timeout-ms M]
//       Controlled leader moves, no broker failure: with Java's Admin, reorders each partition's
//       replicas so BROKER comes first (alterPartitionReassignments; same replica set, so no data
//       moves), then runs a preferred leader election and waits until describeTopics shows
//       BROKER as leader. Prints one JSON line per partition:
//         {"partition":P,"from":OLD_LEADER,"to":BROKER,"ms":ELAPSED}
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
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

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
                status = consume(opts, out);
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
            + "\nusage: Interop produce --bootstrap B --topic T [--config FILE] [--prop k=v]..."
            + "\n       Interop consume --bootstrap B --topic T [--expected N] [--timeout-ms M]"
            + "\n       Interop move-leader --bootstrap B --topic T (--partition P --to BROKER | --moves P:BROKER,...)"
            + " [--timeout-ms M]");
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
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props);
             BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
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
                futures.add(producer.send(new ProducerRecord<>(topic, partition, timestamp,
                    field(f[2]), field(f[3]), headers)));
            }
            producer.flush();
            for (int i = 0; i < futures.size(); i++) {
                try {
                    RecordMetadata md = futures.get(i).get();
                    out.println("{\"i\":" + i + ",\"partition\":" + md.partition() + ",\"offset\":"
                        + md.offset() + ",\"timestamp\":" + md.timestamp() + "}");
                } catch (Exception e) {
                    failed++;
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    // The whole chain: e.g. an SSL handshake failure's root cause (expired
                    // certificate, unknown issuer, host name mismatch) is several levels down.
                    StringBuilder why = new StringBuilder(cause.toString());
                    for (Throwable c = cause.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
                        why.append("; caused by ").append(c);
                    }
                    out.println("{\"i\":" + i + ",\"error\":" + json(why.toString()) + "}");
                }
            }
        }
        return failed == 0 ? 0 : 1;
    }

    private static int consume(Map<String, String> opts, PrintStream out) {
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

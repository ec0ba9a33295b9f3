// A broker-side recorder of KIP-714 client telemetry for kproducer's tests (compiled by
// kproducer-testkit's telemetry module against the Kafka jars, and put on the broker's classpath
// with KafkaOptions::telemetry_recorder).
//
// A MetricsReporter (broker `metric.reporters`) that also provides a ClientTelemetryExporter
// (Kafka 4.x's replacement of the deprecated-for-removal ClientTelemetry /
// ClientTelemetryReceiver pair). A broker with such a plug-in answers GetTelemetrySubscriptions
// with the client-metrics subscriptions and hands every accepted PushTelemetry payload to
// exportMetrics, already decompressed (PushTelemetryRequest.metricsData decompresses with the
// request's compression type; the payload interface does not carry it).
//
// Config (read in configure, from the broker's server.properties):
//   kproducer.telemetry.recorder.file   the file to append to (required)
//
// One JSON line per push, appended and flushed under a lock:
//   {"broker":NODE_ID,"receivedMs":MS,"clientInstanceId":"..","terminating":BOOL,
//    "contentType":"..","pushIntervalMs":MS,"clientId":"..","softwareName":"..",
//    "softwareVersion":"..","listener":"..","principal":"..","bytes":N,
//    "resource":{"key":"value",..},
//    "metrics":[{"scope":"..","name":"..","type":"sum|gauge|histogram|exponential_histogram|summary|none",
//                "monotonic":BOOL,"temporality":"delta|cumulative|unspecified"|null,
//                "points":[{"attributes":{"k":"v",..},"value":NUMBER|"NaN"|..,"int":N|null,
//                           "start":UNIX_NANOS,"time":UNIX_NANOS}]}],
//    "error":".."|null}
// Attribute values are rendered as strings (ints, doubles and booleans by Java's toString).
// For histogram and summary points "value" is the sum and "int" the count. "error" says why the
// payload could not be decoded (then "metrics" is empty).

package kproducer.testkit;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.common.network.ClientInformation;
import org.apache.kafka.common.requests.RequestContext;
import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryExporter;
import org.apache.kafka.server.telemetry.ClientTelemetryExporterProvider;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
// kafka-clients ships the OTLP protobuf classes shaded (the broker decodes pushes with them too).
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.AnyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.KeyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.HistogramDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.Metric;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.MetricsData;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ScopeMetrics;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.SummaryDataPoint;

public final class TelemetryRecorder implements MetricsReporter, ClientTelemetryExporterProvider, ClientTelemetryExporter {
    public static final String FILE_CONFIG = "kproducer.telemetry.recorder.file";

    private final Object lock = new Object();
    private OutputStream out;
    private String broker = "null";

    @Override
    public void configure(Map<String, ?> configs) {
        Object file = configs.get(FILE_CONFIG);
        if (file == null || file.toString().isEmpty()) {
            throw new ConfigException(FILE_CONFIG + " is required by " + TelemetryRecorder.class.getName());
        }
        Object nodeId = configs.get("node.id");
        if (nodeId != null) {
            broker = nodeId.toString();
        }
        synchronized (lock) {
            try {
                out = new FileOutputStream(file.toString(), true);
            } catch (IOException e) {
                throw new ConfigException(FILE_CONFIG, file, "cannot open: " + e);
            }
        }
    }

    @Override
    public void init(List<KafkaMetric> metrics) {
    }

    @Override
    public void metricChange(KafkaMetric metric) {
    }

    @Override
    public void metricRemoval(KafkaMetric metric) {
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (out != null) {
                try {
                    out.close();
                } catch (IOException ignored) {
                    // Nothing left to record.
                }
                out = null;
            }
        }
    }

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this;
    }

    @Override
    public void exportMetrics(ClientTelemetryContext context, ClientTelemetryPayload payload) {
        String line = render(context, payload) + "\n";
        synchronized (lock) {
            if (out == null) {
                return;
            }
            try {
                out.write(line.getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                // The broker must not fail a push because a test file is gone.
                System.err.println("TelemetryRecorder: cannot append to the record file: " + e);
            }
        }
    }

    private String render(ClientTelemetryContext context, ClientTelemetryPayload payload) {
        AuthorizableRequestContext rc = context.authorizableRequestContext();
        ClientInformation info = rc instanceof RequestContext ? ((RequestContext) rc).clientInformation : null;
        ByteBuffer data = payload.data();
        int bytes = data == null ? 0 : data.remaining();
        StringBuilder sb = new StringBuilder(256 + bytes * 2);
        sb.append("{\"broker\":").append(broker)
            .append(",\"receivedMs\":").append(System.currentTimeMillis())
            .append(",\"clientInstanceId\":").append(json(String.valueOf(payload.clientInstanceId())))
            .append(",\"terminating\":").append(payload.isTerminating())
            .append(",\"contentType\":").append(json(payload.contentType()))
            .append(",\"pushIntervalMs\":").append(context.pushIntervalMs())
            .append(",\"clientId\":").append(json(rc.clientId()))
            .append(",\"softwareName\":").append(json(info == null ? null : info.softwareName()))
            .append(",\"softwareVersion\":").append(json(info == null ? null : info.softwareVersion()))
            .append(",\"listener\":").append(json(rc.listenerName()))
            .append(",\"principal\":").append(json(rc.principal() == null ? null : rc.principal().toString()))
            .append(",\"bytes\":").append(bytes);
        StringBuilder resource = new StringBuilder();
        StringBuilder metrics = new StringBuilder();
        String error = null;
        try {
            MetricsData md = MetricsData.parseFrom(data == null ? ByteBuffer.allocate(0) : data.duplicate());
            for (ResourceMetrics rm : md.getResourceMetricsList()) {
                for (KeyValue kv : rm.getResource().getAttributesList()) {
                    sep(resource).append(json(kv.getKey())).append(':').append(json(any(kv.getValue())));
                }
                for (ScopeMetrics sm : rm.getScopeMetricsList()) {
                    String scope = sm.getScope().getName();
                    for (Metric m : sm.getMetricsList()) {
                        sep(metrics);
                        metric(metrics, scope, m);
                    }
                }
            }
        } catch (Exception e) {
            error = e.toString();
        }
        sb.append(",\"resource\":{").append(resource).append('}');
        sb.append(",\"metrics\":[").append(metrics).append(']');
        sb.append(",\"error\":").append(json(error));
        return sb.append('}').toString();
    }

    private static void metric(StringBuilder sb, String scope, Metric m) {
        sb.append("{\"scope\":").append(json(scope)).append(",\"name\":").append(json(m.getName()));
        StringBuilder points = new StringBuilder();
        switch (m.getDataCase()) {
            case SUM:
                sb.append(",\"type\":\"sum\",\"monotonic\":").append(m.getSum().getIsMonotonic())
                    .append(",\"temporality\":").append(temporality(m.getSum().getAggregationTemporalityValue()));
                for (NumberDataPoint p : m.getSum().getDataPointsList()) {
                    number(sep(points), p);
                }
                break;
            case GAUGE:
                sb.append(",\"type\":\"gauge\",\"monotonic\":false,\"temporality\":null");
                for (NumberDataPoint p : m.getGauge().getDataPointsList()) {
                    number(sep(points), p);
                }
                break;
            case HISTOGRAM:
                sb.append(",\"type\":\"histogram\",\"monotonic\":false,\"temporality\":")
                    .append(temporality(m.getHistogram().getAggregationTemporalityValue()));
                for (HistogramDataPoint p : m.getHistogram().getDataPointsList()) {
                    point(sep(points), p.getAttributesList(), p.getSum(), p.getCount(), p.getStartTimeUnixNano(), p.getTimeUnixNano());
                }
                break;
            case EXPONENTIAL_HISTOGRAM:
                sb.append(",\"type\":\"exponential_histogram\",\"monotonic\":false,\"temporality\":")
                    .append(temporality(m.getExponentialHistogram().getAggregationTemporalityValue()));
                for (ExponentialHistogramDataPoint p : m.getExponentialHistogram().getDataPointsList()) {
                    point(sep(points), p.getAttributesList(), p.getSum(), p.getCount(), p.getStartTimeUnixNano(), p.getTimeUnixNano());
                }
                break;
            case SUMMARY:
                sb.append(",\"type\":\"summary\",\"monotonic\":false,\"temporality\":null");
                for (SummaryDataPoint p : m.getSummary().getDataPointsList()) {
                    point(sep(points), p.getAttributesList(), p.getSum(), p.getCount(), p.getStartTimeUnixNano(), p.getTimeUnixNano());
                }
                break;
            default:
                sb.append(",\"type\":\"none\",\"monotonic\":false,\"temporality\":null");
        }
        sb.append(",\"points\":[").append(points).append("]}");
    }

    private static void number(StringBuilder sb, NumberDataPoint p) {
        if (p.getValueCase() == NumberDataPoint.ValueCase.AS_INT) {
            point(sb, p.getAttributesList(), (double) p.getAsInt(), p.getAsInt(), p.getStartTimeUnixNano(), p.getTimeUnixNano());
        } else {
            point(sb, p.getAttributesList(), p.getAsDouble(), null, p.getStartTimeUnixNano(), p.getTimeUnixNano());
        }
    }

    private static void point(StringBuilder sb, List<KeyValue> attributes, double value, Long asInt, long start, long time) {
        sb.append("{\"attributes\":{");
        boolean first = true;
        for (KeyValue kv : attributes) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            sb.append(json(kv.getKey())).append(':').append(json(any(kv.getValue())));
        }
        sb.append("},\"value\":").append(number(value))
            .append(",\"int\":").append(asInt == null ? "null" : asInt.toString())
            .append(",\"start\":").append(Long.toUnsignedString(start))
            .append(",\"time\":").append(Long.toUnsignedString(time)).append('}');
    }

    private static String temporality(int value) {
        switch (value) {
            case 1: return "\"delta\"";
            case 2: return "\"cumulative\"";
            default: return "\"unspecified\"";
        }
    }

    private static String any(AnyValue v) {
        switch (v.getValueCase()) {
            case STRING_VALUE: return v.getStringValue();
            case BOOL_VALUE: return Boolean.toString(v.getBoolValue());
            case INT_VALUE: return Long.toString(v.getIntValue());
            case DOUBLE_VALUE: return Double.toString(v.getDoubleValue());
            case VALUE_NOT_SET: return "";
            default: return v.toString().trim();
        }
    }

    /** A JSON number, or a string for NaN and the infinities (which JSON cannot carry). */
    private static String number(double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            return "\"" + d + "\"";
        }
        return Double.toString(d);
    }

    private static StringBuilder sep(StringBuilder sb) {
        if (sb.length() > 0) {
            sb.append(',');
        }
        return sb;
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

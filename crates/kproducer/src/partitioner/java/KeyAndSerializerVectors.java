// Prints the test vectors embedded in murmur2.rs and serializer.rs, computed by kafka-clients itself.
// Not built by cargo. To regenerate (Java 17, Maven):
//   mvn dependency:copy -Dartifact=org.apache.kafka:kafka-clients:4.1.0 -DoutputDirectory=/tmp/kc
//   mvn dependency:copy -Dartifact=org.slf4j:slf4j-api:1.7.36 -DoutputDirectory=/tmp/kc
//   CP=/tmp/kc/kafka-clients-4.1.0.jar:/tmp/kc/slf4j-api-1.7.36.jar
//   javac -cp $CP -d /tmp/kcgen KeyAndSerializerVectors.java && java -cp $CP:/tmp/kcgen KeyAndSerializerVectors
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.serialization.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class KeyAndSerializerVectors {
    static String hex(byte[] b) { StringBuilder s = new StringBuilder(); for (byte x : b) s.append(String.format("%02x", x & 0xff)); return s.toString(); }
    public static void main(String[] a) {
        List<byte[]> keys = new ArrayList<>();
        keys.add(new byte[0]);
        for (int n = 1; n <= 9; n++) { byte[] k = new byte[n]; for (int i = 0; i < n; i++) k[i] = (byte) (0x61 + i); keys.add(k); }
        for (String s : new String[]{"key", "customer-7", "order-12345", "hello world", "The quick brown fox jumps over the lazy dog",
                "ключ", "鍵", "\uD83D\uDD11", "clé-ü", "a\u0000b"})
            keys.add(s.getBytes(StandardCharsets.UTF_8));
        // high-bit bytes exercise Java's signed byte handling in the tail and body
        keys.add(new byte[]{(byte)0xff});
        keys.add(new byte[]{(byte)0x80, (byte)0xff});
        keys.add(new byte[]{(byte)0xff, (byte)0xfe, (byte)0xfd});
        keys.add(new byte[]{(byte)0x80, 0x00, (byte)0x7f, (byte)0xff});
        keys.add(new byte[]{(byte)0xde, (byte)0xad, (byte)0xbe, (byte)0xef, (byte)0xca, (byte)0xfe});
        Random r = new Random(20240601L);
        for (int n : new int[]{5, 11, 16, 23, 32, 64, 100}) { byte[] k = new byte[n]; r.nextBytes(k); keys.add(k); }
        int[] counts = {1, 3, 7, 16, 100};
        System.out.println("// key hex, murmur2, partition for counts 1, 3, 7, 16, 100");
        for (byte[] k : keys) {
            StringBuilder sb = new StringBuilder();
            sb.append("(\"").append(hex(k)).append("\", ").append(Utils.murmur2(k)).append(", [");
            for (int i = 0; i < counts.length; i++) { if (i > 0) sb.append(", "); sb.append(BuiltInPartitioner.partitionForKey(k, counts[i])); }
            sb.append("]),");
            System.out.println(sb);
        }
        System.out.println("// toPositive");
        for (int v : new int[]{0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, -123456}) System.out.println(v + " -> " + Utils.toPositive(v));
        String t = "t";
        System.out.println("// serializers");
        System.out.println("string héllo ключ 🔑: " + hex(new StringSerializer().serialize(t, "héllo ключ \uD83D\uDD11")));
        for (short s : new short[]{0, 1, -1, Short.MIN_VALUE, Short.MAX_VALUE, 0x1234}) System.out.println("short " + s + ": " + hex(new ShortSerializer().serialize(t, s)));
        for (int s : new int[]{0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 0x12345678}) System.out.println("int " + s + ": " + hex(new IntegerSerializer().serialize(t, s)));
        for (long s : new long[]{0, 1, -1, Long.MIN_VALUE, Long.MAX_VALUE, 0x123456789abcdef0L}) System.out.println("long " + s + ": " + hex(new LongSerializer().serialize(t, s)));
        for (float f : new float[]{0f, -0f, 1.5f, -2.25f, Float.MAX_VALUE, Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.intBitsToFloat(0x7fc00001), Float.intBitsToFloat(0xffc00000)})
            System.out.println("float " + Integer.toHexString(Float.floatToRawIntBits(f)) + ": " + hex(new FloatSerializer().serialize(t, f)));
        for (double d : new double[]{0d, -0d, 1.5d, -2.25d, Double.MAX_VALUE, Double.MIN_VALUE, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NaN, Double.longBitsToDouble(0x7ff8000000000001L), Double.longBitsToDouble(0xfff8000000000000L), Math.PI})
            System.out.println("double " + Long.toHexString(Double.doubleToRawLongBits(d)) + ": " + hex(new DoubleSerializer().serialize(t, d)));
        UUID u = UUID.fromString("123E4567-E89B-12D3-A456-426614174000");
        System.out.println("uuid: " + hex(new UUIDSerializer().serialize(t, u)) + " = " + new String(new UUIDSerializer().serialize(t, u), StandardCharsets.UTF_8));
        System.out.println("void: " + (new VoidSerializer().serialize(t, null) == null));
        System.out.println("bytearray: " + hex(new ByteArraySerializer().serialize(t, new byte[]{1, 2, (byte)0xff})));
    }
}

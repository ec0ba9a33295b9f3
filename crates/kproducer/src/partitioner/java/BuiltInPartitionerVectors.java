// Prints the test vectors embedded in builtin.rs by driving kafka-clients 4.1.0's BuiltInPartitioner with
// scripted random numbers (it lives in the same package to override the package-private randomPartition()).
// Not built by cargo. To regenerate, with CP as in KeyAndSerializerVectors.java:
//   javac -cp $CP -d /tmp/kcgen BuiltInPartitionerVectors.java
//   java -ea -cp $CP:/tmp/kcgen org.apache.kafka.clients.producer.internals.BuiltInPartitionerVectors
package org.apache.kafka.clients.producer.internals;

import org.apache.kafka.common.*;
import org.apache.kafka.common.utils.LogContext;
import java.util.*;

public class BuiltInPartitionerVectors {
    static class Scripted extends BuiltInPartitioner {
        final Deque<Integer> randoms = new ArrayDeque<>();
        Scripted(int batch) { super(new LogContext(), "t", batch); }
        @Override int randomPartition() { return randoms.removeFirst(); }
    }
    static Cluster cluster(int n, Set<Integer> noLeader) {
        Node node = new Node(1, "h", 9092);
        List<PartitionInfo> parts = new ArrayList<>();
        for (int p = 0; p < n; p++) {
            Node leader = noLeader.contains(p) ? null : node;
            parts.add(new PartitionInfo("t", p, leader, new Node[]{node}, new Node[]{node}));
        }
        return new Cluster("c", List.of(node), parts, Set.of(), Set.of());
    }
    static String arr(int[] a, int len) { StringBuilder s = new StringBuilder("&["); for (int i = 0; i < len; i++) { if (i > 0) s.append(", "); s.append(a[i]); } return s.append("]").toString(); }
    public static void main(String[] args) {
        int[] randoms = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99, 12345, 2147483647};
        // sizes (full array), ids, length
        Object[][] cases = {
            {new int[]{0, 3, 1}, new int[]{0, 1, 2}, 3},
            {new int[]{5, 0, 2, 9}, new int[]{0, 1, 2, 3}, 4},
            {new int[]{2, 2, 2}, new int[]{0, 1, 2}, 3},        // all equal: none
            {new int[]{2, 2, 2}, new int[]{0, 2, 1}, 2},        // equal but one excluded: adaptive
            {new int[]{1, 4, 0}, new int[]{3, 5, 6}, 2},        // partial length, sparse ids
            {new int[]{7}, new int[]{0}, 1},                    // single partition: none
            {new int[]{3, 1}, new int[]{0, 1}, 0},              // nothing available: none
            {new int[]{1, 1, 1, 1, 10}, new int[]{4, 3, 2, 1, 0}, 5},
        };
        System.out.println("// (queue_sizes, partition_ids, total_queues, range_end (0 = no stats), chosen partition per random)");
        System.out.println("// randoms: " + Arrays.toString(randoms));
        for (Object[] c : cases) {
            int[] sizes = (int[]) c[0]; int[] ids = (int[]) c[1]; int len = (Integer) c[2];
            int total = sizes.length;
            StringBuilder out = new StringBuilder("(" + arr(sizes, len) + ", " + arr(ids, len) + ", " + total + ", ");
            Scripted probe = new Scripted(1);
            probe.updatePartitionLoadStats(sizes.clone(), ids.clone(), len);
            int rangeEnd;
            // without load stats loadStatsRangeEnd() fails (assert / NPE): print 0
            try { rangeEnd = probe.loadStatsRangeEnd(); } catch (Throwable e) { rangeEnd = 0; }
            out.append(rangeEnd).append(", [");
            Cluster cl = cluster(8, Set.of());
            for (int i = 0; i < randoms.length; i++) {
                Scripted p = new Scripted(1);
                p.updatePartitionLoadStats(sizes.clone(), ids.clone(), len);
                p.randoms.add(randoms[i]);
                if (i > 0) out.append(", ");
                out.append(p.peekCurrentPartitionInfo(cl).partition());
            }
            System.out.println(out.append("]),"));
        }
        // Uniform choice with unavailable partitions: 6 partitions, 1 and 4 leaderless
        Cluster cl = cluster(6, Set.of(1, 4));
        StringBuilder u = new StringBuilder("// uniform over available [0,2,3,5] of 6: ");
        for (int r : randoms) { Scripted p = new Scripted(1); p.randoms.add(r); u.append(p.peekCurrentPartitionInfo(cl).partition()).append(", "); }
        System.out.println(u);
        Cluster none = cluster(5, Set.of(0, 1, 2, 3, 4));
        StringBuilder n = new StringBuilder("// uniform, none available of 5: ");
        for (int r : randoms) { Scripted p = new Scripted(1); p.randoms.add(r); n.append(p.peekCurrentPartitionInfo(none).partition()).append(", "); }
        System.out.println(n);
        // Sticky switching: batch 100, 5 partitions, randoms 7, 3, 11, 4, 0, ...
        Scripted s = new Scripted(100);
        for (int r : new int[]{7, 3, 11, 4, 0, 2, 9, 13, 21, 6}) s.randoms.add(r);
        Cluster c5 = cluster(5, Set.of());
        int[][] steps = {{30, 1}, {30, 1}, {30, 1}, {30, 1}, {60, 0}, {60, 0}, {10, 0}, {0, 1}, {99, 1}, {1, 1}, {150, 0}, {250, 0}, {199, 0}, {1, 0}};
        StringBuilder st = new StringBuilder("// sticky steps (appended, enable_switch) -> partition before, after\n");
        for (int[] step : steps) {
            BuiltInPartitioner.StickyPartitionInfo info = s.peekCurrentPartitionInfo(c5);
            int before = info.partition();
            s.updatePartitionInfo(info, step[0], c5, step[1] == 1);
            int after = s.peekCurrentPartitionInfo(c5).partition();
            st.append("(" + step[0] + ", " + (step[1] == 1) + ", " + before + ", " + after + "),\n");
        }
        System.out.print(st);
    }
}

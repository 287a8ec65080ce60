// Decodes kafka_fdw's Debezium-format events with Kafka Connect's own
// JsonConverter (schemas.enable=true), as a Kafka Connect sink would, and
// prints what it decoded, one line per value:
//
//   <n> key <rendered key>
//   <n> value.<path> <rendered value>      (struct fields, recursively)
//   <n> schema.<path> <schema name>        (fields with a semantic name)
//   <n> tombstone
//
// Input on stdin, one message per line: topic TAB base64(key) TAB base64(value)
// (an empty field is a NULL key or value).  Any message that JsonConverter
// rejects ends the program with status 1 and the reason on stderr.
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.json.JsonConverter;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;

public class DecodeEvents {
    static PrintStream out;

    static String render(Object v, Schema s) {
        if (v == null) return "null";
        if (v instanceof byte[]) {
            StringBuilder b = new StringBuilder("0x");
            for (byte x : (byte[]) v) b.append(String.format("%02x", x));
            return b.toString();
        }
        if (v instanceof BigDecimal) return ((BigDecimal) v).toPlainString();
        if (v instanceof Struct && s != null && "io.debezium.data.VariableScaleDecimal".equals(s.name())) {
            Struct st = (Struct) v;
            return new BigDecimal(new BigInteger(st.getBytes("value")), st.getInt32("scale")).toPlainString();
        }
        if (v instanceof List) {
            StringBuilder b = new StringBuilder("[");
            List<?> l = (List<?>) v;
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) b.append(",");
                b.append(render(l.get(i), s == null ? null : s.valueSchema()));
            }
            return b.append("]").toString();
        }
        return v.toString();
    }

    static void walk(int n, String path, Object v, Schema s) {
        if (s != null && s.name() != null) out.println(n + " schema." + path + " " + s.name());
        if (v instanceof Struct && !(s != null && "io.debezium.data.VariableScaleDecimal".equals(s.name()))) {
            Struct st = (Struct) v;
            for (Field f : st.schema().fields()) walk(n, path + "." + f.name(), st.get(f), f.schema());
            return;
        }
        out.println(n + " " + path + " " + render(v, s));
    }

    public static void main(String[] args) throws Exception {
        out = new PrintStream(System.out, true, "UTF-8");
        JsonConverter keys = new JsonConverter();
        keys.configure(Map.of("schemas.enable", "true"), true);
        JsonConverter values = new JsonConverter();
        values.configure(Map.of("schemas.enable", "true"), false);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        int n = 0;
        Base64.Decoder b64 = Base64.getDecoder();
        while ((line = in.readLine()) != null) {
            n++;
            String[] p = line.split("\t", -1);
            byte[] k = p[1].isEmpty() ? null : b64.decode(p[1]);
            byte[] v = p[2].isEmpty() ? null : b64.decode(p[2]);
            try {
                SchemaAndValue ks = keys.toConnectData(p[0], k);
                out.println(n + " key " + (ks.value() == null ? "null" : ks.value().toString()));
                if (ks.schema() != null && ks.schema().name() != null) out.println(n + " schema.key " + ks.schema().name());
                SchemaAndValue vs = values.toConnectData(p[0], v);
                if (vs.value() == null) {
                    out.println(n + " tombstone");
                    continue;
                }
                walk(n, "value", vs.value(), vs.schema());
            } catch (Exception e) {
                System.err.println("message " + n + " of " + p[0] + ": " + e);
                System.exit(1);
            }
        }
        out.println("decoded " + n);
    }
}

#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses: test/fuzz/corpus/<harness>/.

Seeds are the bad (and some good) messages the suite already uses -- string
literals of the unit tests (test/unit/test_*.cpp) and the messages the
pg_regress files (sql/*.sql) produce -- and crafted ones: truncated UTF-8,
deep nesting, huge numbers, embedded NULs, top-level arrays, malformed
pgoutput messages.  File names are the SHA-1 of the content, as libFuzzer
names its own.  Run it again after changing it (the files are committed, so
running the harnesses does not need Python):  python3 test/fuzz/seeds.py
"""
import hashlib
import os
import re
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fuzz", "corpus")


def c_literals(path):
    """The string literals of a C++ file (raw ones too), as bytes."""
    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    out = []
    for m in re.finditer(r'R"([^(\s]*)\((.*?)\)\1"|"((?:[^"\\\n]|\\.)*)"', text, re.S):
        if m.group(2) is not None:
            out.append(m.group(2).encode())
            continue
        s, b, i = m.group(3), bytearray(), 0
        while i < len(s):
            ch = s[i]
            if ch != "\\":
                b += ch.encode()
                i += 1
                continue
            e = s[i + 1]
            i += 2
            simple = {"n": 10, "t": 9, "r": 13, "b": 8, "f": 12, "v": 11, "a": 7, "\\": 92, '"': 34, "'": 39, "?": 63}
            if e in simple:
                b.append(simple[e])
            elif e == "x":
                h = re.match(r"[0-9a-fA-F]+", s[i:]).group(0)
                b.append(int(h, 16) & 0xFF)
                i += len(h)
            elif e in "01234567":
                o = re.match(r"[0-7]{0,2}", s[i:]).group(0)
                b.append(int(e + o, 8) & 0xFF)
                i += len(o)
            else:
                b += ("\\" + e).encode()
        out.append(bytes(b))
    # not file names of #include lines
    return [x for x in out if not re.fullmatch(rb"[\w/]+\.(hpp|h)", x)]


# ---- messages of the pg_regress tests (sql/*.sql) -------------------------------
SQL_JSON = [  # sql/scan.sql: partition 0 (good) and 1 (bad), import.sql
    b'{"id":1,"name":"alice","price":"10.50","ok":true,"uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",'
    b'"at":"2026-01-02T03:04:05Z","tags":["x","y"],"nums":[1,2,3],"meta":{"a":{"b":1}}}',
    b'{"id":2,"name":"bob","price":7,"ok":false,"nums":[],"meta":[1,"two"]}',
    b'{"name":"tab\\there \\u00e9\\ud83d\\ude00","id":3,"extra":1}',
    b"not json", b"[1,2]", b'{"id":"six","name":"x"}', b"",
    b'{"id":1,"amount":2,"at":"2026-01-01T10:00:00Z","uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",'
    b'"Order ID":"x","nested":{"a":1},"flag":true,"mixed":1}',
    b'{"id":2,"amount":2.5,"at":"2026-01-02 11:00:00+01","only_here":"y","flag":false,"mixed":"one","tags":["a"]}',
    b'{"id":3,"amount":-1e3,"uid":null,"_offset":5}', b'{"a":1}', b'{"a":"s"}', b'{"id": 20}', b'{"h": "v"}',
    b"hello", b"\xff\x01binary",
]
SQL_TEXT = [b"plain text", b"\xff\xfe not utf8", b'1;"a;b";\\N', b"2;;x",
            b"1,hello,2026-01-01,2026-01-01 10:00:00", b'2,"with, comma",,', b"bad,x,y,z", b"1,x", b"2,y,extra"]
MURMUR_KEYS = [b"21", b"foobar", b"a-little-bit-long-string", b"a-little-bit-longer-string",
               b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", b"abc", b"kafka", b"giberish123456789",
               b"1234", b"234", b"34", b"4", b"23456", b"hejsan", b"", b"k1", b"c1", b"p1", b"s2"]

# ---- crafted -------------------------------------------------------------------------
CRAFTED_JSON = [
    b'{"v":"\xc3"}', b'{"v":"\xe2\x82"}', b'{"v":"\xf0\x9f\x98"}', b'{"name":"caf\xc3', b"{\"\xc3\":1}",
    b'{"v":"\xed\xa0\x80"}', b'{"v":"\xc0\xaf"}', b'{"v":"\xf4\x90\x80\x80"}',                # surrogate, overlong, > U+10FFFF
    b"[" * 600 + b"]" * 600, b'{"a":' * 600 + b"1" + b"}" * 600, b'{"tags":' + b"[" * 520 + b"]" * 520 + b"}",
    b'{"v":' + b"[{" * 300 + b"}]" * 300 + b"}", b"[" * 5000,
    b'{"id":1e999999}', b'{"id":123456789012345678901234567890123456789012345678901234567890}',
    b'{"id":-0.0e-999}', b'{"id":9223372036854775808}', b'{"id":-9223372036854775809}', b'{"id":1.}',
    b'{"id":-}', b'{"id":01}', b'{"id":1e}', b'{"id":.5}', b'{"id":+1}', b'{"id":NaN}', b'{"id":Infinity}',
    b'{"v":"a\x00b"}', b'{"a\x00":1}', b"\x00", b'{"id":1}\x00', b'{"v":"\\u0000"}', b'{"v":1\x00}',
    b'[{"id":1}]', b"[]", b'"string"', b"42", b"null", b"true", b"  [1, {\"a\": 2}]  ",
    b"\xef\xbb\xbf{}", b"{}", b" ", b"{", b"}", b'{"id":1,}', b'{"id":1 "name":2}', b'{"id"}', b'{id:1}',
    b'{"v":"\\ud83d"}', b'{"v":"\\ude00"}', b'{"v":"\\ud83d\\u0041"}', b'{"v":"\\u12', b'{"v":"\\',
    b'{"v":"tab\there"}', b'{"v":"nl\nhere"}', b'{"tags":["a",null,[1,[2]],{"b":"}"},"\\"q\\""]}',
    b'{"id":1}{"id":2}', b'{"id":1} x', b"{\"\xc3\xa9\":\"\xc3\xa9\"}", b'{"":""}', b'{"a":1,"a":"two","a":[3]}',
]
CRAFTED_TEXT = [  # CSV and COPY text lines
    b'"unterminated', b'a,"b', b'"a""b",c', b'"",,""', b'a,b,c\r\n', b"\r", b"\n", b",", b",,,,",
    b'"multi\nline",x', b"a\x00b,c", b"\xc3,\xe2\x82", b'\\N,"\\N",NULL', b'"x"y,z', b'x"y",z',
    b"a\tb\tc\n\\N\t\\x41\\101\t\\\n", b"\\.", b"\\.\r\n", b"a\\\nb\n", b"a\\\\\nb", b"\\", b"\\777\\0\\x\\xZ\\xfff",
    b"\\b\\f\\n\\r\\t\\v\\q", b"a\tb\r\n", b"\t\t\t", b"x" * 3000,
]
CRAFTED_PG_TEXT = [
    b"{" * 1000 + b"}" * 1000, b"{" * 1000, b"[0:1]={1,2}", b"[1:2][3:4]={{1,2},{3,4}}", b"[0:1", b'{"a', b'{"a\\',
    b"{a\\", b"{,}", b"{1,,2}", b"{ 1 , 2 }", b"{NULL,null,\"NULL\"}", b"{\"\"}", b"{}", b"{}x", b"(" + b"," * 100 + b")",
    b"()", b'("a""b",\\),,)', b"(1,2", b'("x', b"1 2 3", b"  1  2 ", b"", b"{\x00}", b"(\x00)", b"{\xc3}",
    b'{"(1,\\"a b\\")",NULL}', b"{(3,4),(1,2);(1,1),(0,0)}", b'{{1,2},{3,4}}x', b'("{""p q"",r}","(1,2)",{})',
]


class Pg:
    """pgoutput messages, laid out as PostgreSQL 15's proto.c writes them."""

    def __init__(self, t):
        self.b = bytearray(t.encode() if isinstance(t, str) else t)

    def u8(self, v): self.b += struct.pack(">B", v & 0xFF); return self
    def u16(self, v): self.b += struct.pack(">H", v & 0xFFFF); return self
    def u32(self, v): self.b += struct.pack(">I", v & 0xFFFFFFFF); return self
    def u64(self, v): self.b += struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF); return self
    def s(self, v): self.b += v + b"\0"; return self
    def text(self, v): self.b += b"t" + struct.pack(">I", len(v)) + v; return self
    def raw(self, v): self.b += v; return self


def pgoutput_seeds():
    out = [
        Pg("B").u64(0x16B374D848).u64(123456789).u32(731),
        Pg("B").u64(0).u64(0x7FFFFFFFFFFFFFFF).u32(1), Pg("B").u64(0).u64(0x8000000000000000).u32(1),
        Pg("B").u64(0xFFFFFFFFFFFFFFFF).u64(0xFFFFFFFFFFFFFFFF).u32(0xFFFFFFFF), Pg("B").u64(1),
        Pg("C").u8(0).u64(10).u64(20).u64(30), Pg("C").u8(0).u64(1).u64(2).u64(0x7FFF000000000000), Pg("C").u8(0),
        Pg("R").u32(16384).s(b"").s(b"orders").u8(ord("d")).u16(2)
            .u8(1).s(b"id").u32(23).u32(0xFFFFFFFF).u8(0).s(b"note").u32(25).u32(0xFFFFFFFF),
        Pg("R").u32(1).s(b"public").s(b"t").u8(ord("f")).u16(0xFFFF), Pg("R").u32(1).raw(b"no terminator"),
        Pg("I").u32(7).u8(ord("N")).u16(3).text(b"42").u8(ord("n")).u8(ord("u")),
        Pg("U").u32(7).u8(ord("K")).u16(1).text(b"1").u8(ord("N")).u16(1).text(b"2"),
        Pg("U").u32(7).u8(ord("O")).u16(1).text(b"{1,2}").u8(ord("N")).u16(1).text(b'("a b",)'),
        Pg("U").u32(7).u8(ord("N")).u16(1).text(b""), Pg("D").u32(7).u8(ord("O")).u16(2).text(b"5").text(b"x"),
        Pg("D").u32(7).u8(ord("K")).u16(1).u8(ord("b")).u32(3).raw(b"\x00\x01\x02"),
        Pg("D").u32(7).u8(ord("N")).u16(0), Pg("I").u32(7).u8(ord("N")).u16(2).text(b"1"),
        Pg("I").u32(7).u8(ord("N")).u16(1).u8(ord("t")).u32(100), Pg("I").u32(7).u8(ord("N")).u16(1).u8(ord("?")),
        Pg("I").u32(7).u8(ord("N")).u16(0xFFFF),
        Pg("T").u32(2).u8(1).u32(7).u32(8), Pg("T").u32(0).u8(3), Pg("T").u32(0xFFFFFFFF).u8(0).u32(7),
        Pg("O").u64(5).s(b"origin"), Pg("M").u8(1).u64(5).s(b"prefix").u32(3).raw(b"abc"), Pg("Y").u32(5).s(b"ns"),
        Pg(""), Pg("B"),
    ]
    return [bytes(m.b) for m in out]


def headers(*hs):
    """fuzz_headers' input: [name len] name [value len | 0xff for none] value."""
    b = bytearray()
    for name, value in hs:
        b.append(len(name))
        b += name
        if value is None:
            b.append(0xFF)
        else:
            b.append(len(value))
            b += value
    return bytes(b)


def partition_seeds():
    out = []
    for i, k in enumerate(MURMUR_KEYS):
        # 3 partitions (count - 1 = 2), topic 0, murmur2_random / murmur2 / the others by turn
        out.append(b"\x00\x02" + bytes([0, i % 7]) + k)
    out += [b"\x00\x00\x00\x01k", b"\xff\xff\x01\x00key", b"\x00\x02\x81\x00", b"\x00\x02\x82\x06",
            b"\x00\x02\x03\x07murmur2\x00xyz\x00\x00\x00\x00\x00\x00k", b"\x00\x02\x00\x07MURMUR2_RANDOM\x00\x00k",
            b"\x00\x02\x01\x07no_such_one\x00\x00\x00\x00\x00k"]
    return out


def row_decoder_seeds():
    """fuzz_row_decoder's input: header, column bytes (csv: options first), messages split at 0x1E."""
    rs = b"\x1e"
    cols = bytes([0, 1, 6 | 16, 7 | 32, 3 | 8, 2 | 16 | 8, 64, 5])  # id name tags(pg_array) meta(record) v(raw) ...
    json_hdr = bytes([7 << 3])
    good = [m for m in SQL_JSON if m.startswith(b"{")]
    out = [json_hdr + cols + rs.join(SQL_JSON), json_hdr + cols + rs.join(good)]
    out += [json_hdr + cols + m for m in CRAFTED_JSON if len(m) < 1200]
    out += [bytes([1 << 3]) + bytes([6 | 16, 2 | 32]) + b'{"tags":[1,"a\\"b",null,[2,[]],{"x":"}"},true],"a":{"b":[1]}}',
            bytes([0]) + bytes([6 | 16]) + b'{"tags":[[[[["\\u0000",""]]]]]}' + rs + b'{"tags":"no"}' + rs + b"{}"]
    def csv(opts, null, maxf, fields, msgs, all_fields=False):
        hdr = 1 | (4 if all_fields else 0) | ((len(fields) - 1) << 3)
        return bytes([hdr]) + opts + bytes([len(null), maxf]) + null + bytes(fields) + rs.join(msgs)
    out += [csv(b',""', b"", 0, [0, 1, 2, 3], SQL_TEXT + CRAFTED_TEXT[:20]),
            csv(b',""', b"", 4, [0, 1, 2, 3, 9], SQL_TEXT[4:]),
            csv(b';""', b"\\N", 0, [0, 1, 2], SQL_TEXT[:4], all_fields=True),
            csv(b"\t'\\", b"NULL", 3, [2, 0], [b"a\t'b\\'c'\tNULL\t'NULL'", b"NULL", b"'x"])]
    out += [bytes([2 | (2 << 3), 0, 0, 0]) + rs.join(SQL_TEXT)]  # text format
    return out


def row_json_seeds():
    """fuzz_row_json's input: header (fields - 1, 8: validated), a kind byte per field, values split at 0x1F."""
    us = b"\x1f"
    def row(kinds, values, validated=False, nulls=()):
        hdr = (len(kinds) - 1) | (8 if validated else 0)
        return bytes([hdr]) + bytes(k | (128 if i in nulls else 0) for i, k in enumerate(kinds)) + us.join(values)
    scal = [0, 1, 2, 3, 4, 5, 6, 11]
    vals = [b'tab\there "q" \\ \xc3\xa9', b"-12.5e3", b"t", b'{"a":[1,{"b":null}]}', b"0044-03-15 BC",
            b"2024-01-02 03:04:05.5", b"2024-01-02 03:04:05+05:30", b"1 2 3"]
    bad = [b"x", b"NaN", b"maybe", b"{bad", b"", b"2024-01-02 03:04:05 BC", b"infinity", b"1  x"]
    outer = b'(1.5,"a ""b""","{x,\\"y z\\",NULL}","(t,\\"2024-01-02 03:04:05+01\\",\\"{2024-01-01,NULL}\\")",' \
            b'"{\\"2024-01-02 03:04:05\\"}")'
    out = [row(scal, vals), row(scal, vals, True), row(scal, bad), row(scal, bad, True), row(scal, vals, True, {1, 3})]
    out += [row([7, 8, 9, 10], [b"{1,2,NULL}", b'{"a,b","",NULL,"NULL"}', b"{{t,f},{f,t}}",
                                b'[0:1]={"2024-01-02 03:04:05+01";"infinity"}'], v) for v in (False, True)]
    out += [row([7, 8, 9], [b"{1,x}", b"{{a}", b"{1}"], v) for v in (False, True)]
    out += [row([12, 13, 14], [outer, b'{"(f,,{})",NULL,"(,,)"}', b"()"], v) for v in (False, True)]
    out += [row([12, 14], [b"(1,2)", b"(1)"], v) for v in (False, True)]
    out += [row([7], [b"{" * 600 + b"1" + b"}" * 600]), row([13], [b"{" + b'"(t,x,{})",' * 40 + b"NULL}"], True)]
    return out


def write(name, seeds):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for s in set(seeds):
        with open(os.path.join(d, hashlib.sha1(s).hexdigest()), "wb") as f:
            f.write(s)
    return len(set(seeds))


def main():
    json_lits = c_literals("test/unit/test_json.cpp")
    csv_lits = c_literals("test/unit/test_csv.cpp")
    pgt_lits = c_literals("test/unit/test_pg_text.cpp")
    counts = {}
    counts["json"] = write("json", json_lits + SQL_JSON + CRAFTED_JSON)
    default_csv = b',""\x00'
    csv = [default_csv + x for x in csv_lits + SQL_TEXT + CRAFTED_TEXT + SQL_JSON[:3]]
    csv += [b';""\x02\\N' + x for x in SQL_TEXT[:4]]              # scan.sql's raw_csv: delimiter ';', null '\N'
    csv += [b"\t'\\\x04NULL" + b"a\t'b\\'c'\tNULL\t'NULL'", b",\"\\\x00" + b'"a\\"b",\\,"\\\\"',
            b",,,\x00a,b", b"\n\"\"\x00a\nb"]                       # other quotes, escapes; delimiter = quote
    counts["csv"] = write("csv", csv)
    counts["copy_text"] = write("copy_text", csv_lits + SQL_TEXT + CRAFTED_TEXT +
                                [b"\n".join(SQL_TEXT) + b"\n", b"\n".join(CRAFTED_TEXT)])
    counts["pg_text"] = write("pg_text", pgt_lits + CRAFTED_PG_TEXT)
    counts["pgoutput"] = write("pgoutput", pgoutput_seeds())
    counts["headers"] = write("headers", [
        b"", headers((b"source", b"test"), (b"trace", b"abc")), headers((b"h", b"v")),
        headers((b"text", "caf\u00e9 \"q\" \\".encode()), (b"null", None), (b"empty", b""),
                (b"binary", b"\x00\x01\xff"), (b"nul", b"a\x00b"), (b"text", b"\\x41"), (b'we"ird\n', b"")),
        headers((b"\xff\xfe", b"v")), headers((b"\xc3", b"\xe2\x82")), headers((b"a\x00b", b"c\x00d")),
        headers((b"", None), (b"", b"")), headers(*[(b"k%d" % i, b"v" * i) for i in range(40)]),
        headers((b"\x7f\x1f", b"\x1b[0m"), (b"\xf0\x9f\x98\x80", b"\xed\xa0\x80")),
    ])
    counts["partition"] = write("partition", partition_seeds())
    counts["row_decoder"] = write("row_decoder", row_decoder_seeds())
    counts["row_json"] = write("row_json", row_json_seeds())
    sep, unit = b"\x1e", b"\x1f"
    imp = SQL_JSON[7:10] + [b'{"a":1}', b'{"a":"s"}']
    counts["infer"] = write("infer", [
        sep.join(b"k%d" % i + unit + m for i, m in enumerate(imp)), sep.join(imp), b"hello" + sep + b"world",
        b"\xff\x01binary", sep.join(CRAFTED_JSON[:20]), sep.join(CRAFTED_JSON[20:]), b"\xff\xfe" + unit + b'{"a":1}',
        sep.join(SQL_JSON), b'{"n":18446744073709551615,"m":18446744073709551616,"f":1e400,"t":"2026-01-01T10:00"}',
        b'{"' + b"Long Member Name " * 10 + b'":1,"9lives":2,"___":3,"\xc3\xa9t\xc3\xa9":4,"":5}',
        unit + sep + unit + unit + sep,
    ])
    for k, v in counts.items():
        print(f"{k}: {v} seeds")


if __name__ == "__main__":
    main()

// The readers of array_out's and record_out's text (src/format/pg_text.hpp),
// on texts as PostgreSQL 15 writes them.
#include "format/pg_text.hpp"

#include "framework.hpp"

#include <string>

namespace pt = kafka_fdw::format::pgtext;

namespace {

// The tokens of an array's text, one word each: { } N(ull) E(nd) X (error)
// and items in <...>.
std::string LexArray(const std::string &text, char delim = ',') {
    pt::ArrayLexer lex(text.data(), text.size(), delim);
    std::string buf(text.size() + 1, '\0'), out;
    for (int guard = 0; guard < 1000; guard++) {
        size_t n = 0;
        pt::Token t = lex.Next(&buf[0], &n);
        switch (t) {
        case pt::Token::Open: out += "{"; break;
        case pt::Token::Close: out += "}"; break;
        case pt::Token::Null: out += "N"; break;
        case pt::Token::Item: out += "<" + buf.substr(0, n) + ">"; break;
        case pt::Token::End: return out + "E";
        case pt::Token::Error: return out + "X";
        }
    }
    return out + "...";
}

std::string LexRecord(const std::string &text) {
    pt::RecordLexer lex(text.data(), text.size());
    std::string buf(text.size() + 1, '\0'), out;
    for (int guard = 0; guard < 1000; guard++) {
        size_t n = 0;
        pt::Token t = lex.Next(&buf[0], &n);
        switch (t) {
        case pt::Token::Null: out += "N"; break;
        case pt::Token::Item: out += "<" + buf.substr(0, n) + ">"; break;
        case pt::Token::End: return out + "E";
        case pt::Token::Error: return out + "X";
        default: return out + "?";
        }
    }
    return out + "...";
}

std::string LexVector(const std::string &text) {
    pt::VectorLexer lex(text.data(), text.size());
    std::string out;
    for (int guard = 0; guard < 1000; guard++) {
        const char *s = nullptr;
        size_t n = 0;
        pt::Token t = lex.Next(&s, &n);
        if (t == pt::Token::End) return out + "E";
        out += "<" + std::string(s, n) + ">";
    }
    return out + "...";
}

}  // namespace

TEST(pg_text_array_simple) {
    CHECK_EQ(LexArray("{1,NULL,3}"), std::string("{<1>N<3>}E"));
    CHECK_EQ(LexArray("{}"), std::string("{}E"));
    CHECK_EQ(LexArray("{null,Null}"), std::string("{NN}E"));
    CHECK_EQ(LexArray("{t,f}"), std::string("{<t><f>}E"));
}

TEST(pg_text_array_dimensions) {
    CHECK_EQ(LexArray("{{1,2},{3,4}}"), std::string("{{<1><2>}{<3><4>}}E"));
    CHECK_EQ(LexArray("{{{1}},{{NULL}}}"), std::string("{{{<1>}}{{N}}}E"));
    CHECK_EQ(LexArray("[0:2]={7,8,9}"), std::string("{<7><8><9>}E"));
    CHECK_EQ(LexArray("[1:2][3:4]={{1,2},{3,4}}"), std::string("{{<1><2>}{<3><4>}}E"));
}

TEST(pg_text_array_quoting) {
    // array_out quotes empty strings, the word NULL, white space, quotes,
    // backslashes, braces and the delimiter; escapes '"' and '\\'.
    CHECK_EQ(LexArray(R"({"a b","c\"d","","NULL","x\\y","{}","tab	x","é☃",plain})"),
             std::string("{<a b><c\"d><><NULL><x\\y><{}><tab\tx><é☃><plain>}E"));
    // a composite's text as an element (it holds the delimiter)
    CHECK_EQ(LexArray(R"x({"(1,\"a b\")",NULL})x"), std::string("{<(1,\"a b\")>N}E"));
    // array_in's backslash outside quotes (array_out never writes it)
    std::string escaped = "{a\\,b,\\NULL}";
    CHECK_EQ(LexArray(escaped), std::string("{<a,b><NULL>}E"));
}

TEST(pg_text_array_box_delimiter) {
    CHECK_EQ(LexArray("{(3,4),(1,2);(1,1),(0,0)}", ';'), std::string("{<(3,4),(1,2)><(1,1),(0,0)>}E"));
}

TEST(pg_text_array_errors) {
    CHECK_EQ(LexArray(""), std::string("X"));
    CHECK_EQ(LexArray("1,2"), std::string("X"));
    CHECK_EQ(LexArray("{1,2"), std::string("{<1>X"));
    CHECK_EQ(LexArray("{\"a}"), std::string("{X"));
    CHECK_EQ(LexArray("{1}x"), std::string("{<1>}X"));
    CHECK_EQ(LexArray("[0:1]"), std::string("X"));
    CHECK_EQ(LexArray("{\"a\"b}"), std::string("{X"));
    CHECK_EQ(LexArray("{a\\"), std::string("{X"));
}

TEST(pg_text_record) {
    CHECK_EQ(LexRecord("(1,,\"a b\",\"x\"\"y\",\"\",\"b\\\\s\")"),
             std::string("<1>N<a b><x\"y><><b\\s>E"));
    CHECK_EQ(LexRecord("(,)"), std::string("NNE"));
    CHECK_EQ(LexRecord("()"), std::string("NE"));  // one NULL field, or none: the caller knows
    // nested: an array and a composite as fields
    CHECK_EQ(LexRecord("(\"{\"\"p q\"\",r}\",\"(1,2)\",{})"), std::string("<{\"p q\",r}><(1,2)><{}>E"));
    // record_in's backslash escapes
    CHECK_EQ(LexRecord("(a\\,b)"), std::string("<a,b>E"));
}

TEST(pg_text_record_errors) {
    CHECK_EQ(LexRecord(""), std::string("X"));
    CHECK_EQ(LexRecord("1,2"), std::string("X"));
    CHECK_EQ(LexRecord("(1,2"), std::string("<1>X"));
    CHECK_EQ(LexRecord("(\"a)"), std::string("X"));
    CHECK_EQ(LexRecord("(1)x"), std::string("<1>X"));
}

TEST(pg_text_vector) {
    CHECK_EQ(LexVector("1 2 3"), std::string("<1><2><3>E"));
    CHECK_EQ(LexVector(""), std::string("E"));
    CHECK_EQ(LexVector("42"), std::string("<42>E"));
}

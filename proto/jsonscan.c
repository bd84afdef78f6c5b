/*
 * JSON scanning without building a tree.
 *
 * cJSON validates a command but keeps neither byte positions nor the exact
 * spelling of numbers, so the byte range of "data" (forwarded to subscribers
 * unchanged) is found here, on the original bytes. cJSON is also more lenient
 * than RFC 8259 (any byte <= 0x20 counts as whitespace, "+1", "01" and ".5"
 * are numbers, "\uZZZZ" decodes to U+0000); json_lex_check() holds the input
 * to the RFC's lexical rules before cJSON sees it, so what we forward is JSON.
 *
 * Every function here is bounds-checked on arbitrary bytes: the fuzzer feeds
 * them garbage even where the contract promises valid JSON.
 */
#include "proto.h"

#include <string.h>

#define NPOS SIZE_MAX

static int
is_ws(unsigned char c)
{
    /* RFC 8259 section 2: the four whitespace characters. */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* 1 when c is one of the bytes of set (never for NUL, unlike a bare strchr). */
static int
in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static size_t
skip_ws(const char *buf, size_t len, size_t i)
{
    while (i < len && is_ws((unsigned char)buf[i])) {
        i++;
    }
    return i;
}

/* Value of the 4 hex digits at s[i..i+4) within s[0..n), or -1. */
static long
hex4(const char *s, size_t n, size_t i)
{
    long v = 0;
    size_t k;

    if (n < 4 || i > n - 4) {
        return -1;
    }
    for (k = i; k < i + 4; k++) {
        unsigned char c = (unsigned char)s[k];

        if (is_digit(c)) {
            v = v * 16 + (c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v = v * 16 + (c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v = v * 16 + (c - 'A' + 10);
        } else {
            return -1;
        }
    }
    return v;
}

static size_t
utf8_encode(unsigned long cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes \uXXXX (or a \uD8xx\uDCxx pair) at s[i]; returns bytes consumed, 0 if malformed. */
static size_t
decode_u_escape(const char *s, size_t n, size_t i, unsigned char out[4], size_t *out_n)
{
    long hi = hex4(s, n, i + 2), lo;

    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) {
        return 0;
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
        *out_n = utf8_encode((unsigned long)hi, out);
        return 6;
    }
    /* RFC 8259 section 7: a high surrogate must be followed by an escaped low one. */
    if (i + 8 > n || s[i + 6] != '\\' || s[i + 7] != 'u') {
        return 0;
    }
    lo = hex4(s, n, i + 8);
    if (lo < 0xDC00 || lo > 0xDFFF) {
        return 0;
    }
    *out_n = utf8_encode(
        0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00), out);
    return 12;
}

/* Decodes the escape starting at s[i] == '\\' within s[0..n); returns bytes consumed or 0. */
static size_t
decode_escape(const char *s, size_t n, size_t i, unsigned char out[4], size_t *out_n)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (i + 1 >= n) {
        return 0;
    }
    if (s[i + 1] == 'u') {
        return decode_u_escape(s, n, i, out, out_n);
    }
    if (!in_set(s[i + 1], from)) {
        return 0;
    }
    hit = strchr(from, s[i + 1]);
    out[0] = (unsigned char)to[hit - from];
    *out_n = 1;
    return 2;
}

/* Index just past the string token starting at buf[i] == '"', or NPOS if unterminated. */
static size_t
skip_string(const char *buf, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (buf[i] == '\\') {
            i++;
        } else if (buf[i] == '"') {
            return i + 1;
        }
    }
    return NPOS;
}

/* Index just past the array or object starting at buf[i], or NPOS if unbalanced. */
static size_t
skip_container(const char *buf, size_t len, size_t i)
{
    size_t depth = 0;

    while (i < len) {
        char c = buf[i];

        if (c == '"') {
            i = skip_string(buf, len, i);
            if (i == NPOS) {
                return NPOS;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return i + 1;
            }
        }
        i++;
    }
    return NPOS;
}

/* Index just past the value starting at buf[i], or NPOS. */
static size_t
skip_value(const char *buf, size_t len, size_t i)
{
    size_t start = i;

    if (i >= len) {
        return NPOS;
    }
    if (buf[i] == '"') {
        return skip_string(buf, len, i);
    }
    if (buf[i] == '{' || buf[i] == '[') {
        return skip_container(buf, len, i);
    }
    /* A number or a literal: runs to the next delimiter. */
    while (i < len && !is_ws((unsigned char)buf[i]) && !in_set(buf[i], ",:[]{}\"")) {
        i++;
    }
    return i > start ? i : NPOS;
}

/* 1 when the raw key text s[0..n) (between the quotes) decodes to exactly key. */
static int
key_matches(const char *s, size_t n, const char *key)
{
    size_t klen = strlen(key), k = 0, i = 0;

    while (i < n) {
        unsigned char u[4];
        size_t un = 1, used = 1;

        u[0] = (unsigned char)s[i];
        if (s[i] == '\\') {
            used = decode_escape(s, n, i, u, &un);
            if (used == 0) {
                return 0;
            }
        }
        if (un > klen - k || memcmp(key + k, u, un) != 0) {
            return 0;
        }
        k += un;
        i += used;
    }
    return k == klen;
}

int
json_depth(const char *buf, size_t len, int limit)
{
    int depth = 0, max = 0, in_string = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        char c = buf[i];

        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = 0;
            }
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                max = depth;
            }
            if (depth > limit) {
                return depth;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int
json_member_span(const char *buf, size_t len, const char *key, const char **val, size_t *val_len)
{
    size_t i = skip_ws(buf, len, 0);

    if (i >= len || buf[i] != '{') {
        return -1;
    }
    i = skip_ws(buf, len, i + 1);
    while (i < len && buf[i] == '"') {
        size_t kend = skip_string(buf, len, i), vstart, vend;
        int match;

        if (kend == NPOS) {
            return -1;
        }
        match = key_matches(buf + i + 1, kend - i - 2, key);
        i = skip_ws(buf, len, kend);
        if (i >= len || buf[i] != ':') {
            return -1;
        }
        vstart = skip_ws(buf, len, i + 1);
        vend = skip_value(buf, len, vstart);
        if (vend == NPOS) {
            return -1;
        }
        if (match) {
            *val = buf + vstart;
            *val_len = vend - vstart;
            return 0;
        }
        i = skip_ws(buf, len, vend);
        if (i >= len || buf[i] != ',') {
            return -1;
        }
        i = skip_ws(buf, len, i + 1);
    }
    return -1;
}

int
json_string_decode(const char *tok, size_t tok_len, char *out, size_t cap, size_t *out_len)
{
    size_t i = 1, end, n = 0;

    if (tok_len < 2 || tok[0] != '"' || tok[tok_len - 1] != '"') {
        return -1;
    }
    end = tok_len - 1;
    while (i < end) {
        unsigned char u[4];
        size_t un = 1, used = 1;

        u[0] = (unsigned char)tok[i];
        if (u[0] == '"' || u[0] < 0x20) {
            return -1;
        }
        if (u[0] == '\\') {
            used = decode_escape(tok, end, i, u, &un);
            if (used == 0) {
                return -1;
            }
        }
        if (un > cap - n) {
            return -2;
        }
        memcpy(out + n, u, un);
        n += un;
        i += used;
    }
    *out_len = n;
    return 0;
}

/* Index past the RFC 8259 number at buf[i], or NPOS (leading zeros, "1.", "1e", "-"). */
static size_t
lex_number(const char *buf, size_t len, size_t i)
{
    size_t d;

    if (buf[i] == '-') {
        i++;
    }
    if (i < len && buf[i] == '0') {
        i++;
    } else if (i < len && buf[i] >= '1' && buf[i] <= '9') {
        while (i < len && is_digit((unsigned char)buf[i])) {
            i++;
        }
    } else {
        return NPOS;
    }
    if (i < len && buf[i] == '.') {
        for (d = ++i; i < len && is_digit((unsigned char)buf[i]); i++) {
        }
        if (i == d) {
            return NPOS;
        }
    }
    if (i < len && (buf[i] == 'e' || buf[i] == 'E')) {
        i++;
        if (i < len && (buf[i] == '+' || buf[i] == '-')) {
            i++;
        }
        for (d = i; i < len && is_digit((unsigned char)buf[i]); i++) {
        }
        if (i == d) {
            return NPOS;
        }
    }
    /* "01", "1.2.3", "1e5e" and "1-2" end in a byte that cannot follow a number. */
    if (i < len && in_set(buf[i], "0123456789.eE+-")) {
        return NPOS;
    }
    return i;
}

/* Index past the string token at buf[i] == '"', or NPOS (raw control byte, bad escape). */
static size_t
lex_string(const char *buf, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c == '"') {
            return i + 1;
        }
        if (c < 0x20) {
            return NPOS;
        }
        if (c != '\\') {
            continue;
        }
        if (i + 1 >= len) {
            return NPOS;
        }
        if (buf[i + 1] == 'u') {
            if (hex4(buf, len, i + 2) < 0) {
                return NPOS;
            }
            i += 5;
        } else if (in_set(buf[i + 1], "\"\\/bfnrt")) {
            i++;
        } else {
            return NPOS;
        }
    }
    return NPOS;
}

/* Index past the literal true, false or null at buf[i], or NPOS. */
static size_t
lex_word(const char *buf, size_t len, size_t i)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t k, start = i;

    while (i < len && buf[i] >= 'a' && buf[i] <= 'z') {
        i++;
    }
    for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
        if (strlen(words[k]) == i - start && memcmp(buf + start, words[k], i - start) == 0) {
            return i;
        }
    }
    return NPOS;
}

int
json_lex_check(const char *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)buf[i];

        if (is_ws(c) || in_set((char)c, "{}[]:,")) {
            i++;
        } else if (c == '"') {
            i = lex_string(buf, len, i);
        } else if (c == '-' || is_digit(c)) {
            i = lex_number(buf, len, i);
        } else if (c >= 'a' && c <= 'z') {
            i = lex_word(buf, len, i);
        } else {
            return -1;
        }
        if (i == NPOS) {
            return -1;
        }
    }
    return 0;
}

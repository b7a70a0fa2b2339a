/* The front's strict JSON reader (json.h says what it declines, and why). */
#include "json.h"

#include <string.h>

#define MAX_DEPTH 64

static int at(const struct json *j, char c)
{
    return j->p < j->end && *j->p == c;
}

static void ws(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int string(struct json *j, struct jvalue *v)
{
    if (!at(j, '"'))
        return 0;
    v->type = J_STRING;
    v->text = ++j->p;
    v->escaped = 0;
    for (; j->p < j->end; j->p++) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            v->len = (size_t)(j->p++ - v->text);
            return 1;
        }
        if (c < 0x20 || c >= 0x80)
            return 0;                   /* invalid JSON, or non-ASCII: declined */
        if (c == '\\') {
            v->escaped = 1;
            if (++j->p >= j->end || !strchr("\"\\/bfnrt", *j->p) || !*j->p)
                return 0;               /* \u (or invalid): declined */
        }
    }
    return 0;
}

static int digits(struct json *j)
{
    const char *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > start;
}

static int number(struct json *j)
{
    if (at(j, '-'))
        j->p++;
    if (at(j, '0'))
        j->p++;
    else if (!digits(j))
        return 0;
    if (at(j, '.')) {
        j->p++;
        if (!digits(j))
            return 0;
    }
    if (at(j, 'e') || at(j, 'E')) {
        j->p++;
        if (at(j, '+') || at(j, '-'))
            j->p++;
        if (!digits(j))
            return 0;
    }
    return 1;
}

static int literal(struct json *j, const char *word, int type, struct jvalue *v)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
        return 0;
    j->p += n;
    v->type = type;
    return 1;
}

/* the end of an object or array */
static int closing(struct json *j)
{
    j->p++;
    j->depth--;
    return 1;
}

static int skip_member(struct json *j, const char *key, size_t len, void *ctx)
{
    struct jvalue v;
    (void)key, (void)len, (void)ctx;
    return json_value(j, &v);
}

/* `[` values `]`; with only_strings, each must be a string */
static int array(struct json *j, int only_strings)
{
    struct jvalue v;
    if (!at(j, '[') || ++j->depth > MAX_DEPTH)
        return 0;
    j->p++;
    ws(j);
    if (at(j, ']'))
        return closing(j);
    for (;;) {
        ws(j);
        if (!json_value(j, &v) || (only_strings && v.type != J_STRING))
            return 0;
        ws(j);
        if (at(j, ']'))
            return closing(j);
        if (!at(j, ','))
            return 0;
        j->p++;
    }
}

int json_strings(struct json *j)
{
    return array(j, 1);
}

int json_value(struct json *j, struct jvalue *v)
{
    v->text = NULL;
    v->len = 0;
    if (j->p >= j->end)
        return 0;
    switch (*j->p) {
    case '{': v->type = J_OBJECT; return json_object(j, skip_member, NULL);
    case '[': v->type = J_ARRAY; return array(j, 0);
    case '"': return string(j, v);
    case 't': return literal(j, "true", J_TRUE, v);
    case 'f': return literal(j, "false", J_FALSE, v);
    case 'n': return literal(j, "null", J_NULL, v);
    default: v->type = J_NUMBER; return number(j);
    }
}

int json_object(struct json *j, json_member member, void *ctx)
{
    struct jvalue key;
    if (!at(j, '{') || ++j->depth > MAX_DEPTH)
        return 0;
    j->p++;
    ws(j);
    if (at(j, '}'))
        return closing(j);
    for (;;) {
        ws(j);
        if (!string(j, &key))
            return 0;
        ws(j);
        if (!at(j, ':'))
            return 0;
        j->p++;
        ws(j);
        /* an escaped key never equals the plain names the callbacks look for */
        if (!member(j, key.escaped ? "" : key.text, key.escaped ? 0 : key.len, ctx))
            return 0;
        ws(j);
        if (at(j, '}'))
            return closing(j);
        if (!at(j, ','))
            return 0;
        j->p++;
    }
}

/* A whole document that is one object (json.loads with nothing after it but whitespace);
 * anything else: 0 (for the front's files, a top level that is not an object is the Python
 * side's to word). */
int json_document(const char *data, size_t n, json_member member, void *ctx)
{
    struct json j = {data, data + n, 0};
    ws(&j);
    if (!json_object(&j, member, ctx))
        return 0;
    ws(&j);
    return j.p == j.end;
}

int json_is(const struct jvalue *v, const char *text)
{
    return v->type == J_STRING && !v->escaped && v->len == strlen(text) &&
           !memcmp(v->text, text, v->len);
}

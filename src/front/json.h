/*
 * A strict JSON reader for the front (front.c): validates a whole document and hands each
 * member of an object to a callback. It declines (returns 0) whatever the Python side might
 * read differently or check further: non-ASCII bytes, \u escapes (safejson's surrogate
 * checks), NaN/Infinity (json.loads accepts them), nesting deeper than 64 (safejson: 100).
 * A declined document sends the command line to the Python command, which decides.
 */
#ifndef SYSCONTAINERS_FRONT_JSON_H
#define SYSCONTAINERS_FRONT_JSON_H

#include <stddef.h>

enum {
    J_STRING = 1, J_NUMBER = 2, J_TRUE = 4, J_FALSE = 8, J_NULL = 16, J_OBJECT = 32,
    J_ARRAY = 64,
};

struct json {
    const char *p, *end;
    int depth;
};

struct jvalue {
    int type;               /* one of J_* */
    const char *text;       /* a string's raw text (between its quotes) */
    size_t len;
    int escaped;            /* the raw text has backslash escapes */
};

/* One member of an object: its raw key (no quotes) and `j` at its value, which the callback
 * must read (json_value, json_object, json_strings). 0: decline. */
typedef int (*json_member)(struct json *j, const char *key, size_t len, void *ctx);

int json_value(struct json *j, struct jvalue *v);
int json_object(struct json *j, json_member member, void *ctx);
int json_strings(struct json *j);
int json_document(const char *data, size_t n, json_member member, void *ctx);
int json_is(const struct jvalue *v, const char *text);

#endif

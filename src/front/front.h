/* What the parts of the front share (front.c: the command line, the plain case, systemctl;
 * status.c: the status line). */
#ifndef SYSCONTAINERS_FRONT_H
#define SYSCONTAINERS_FRONT_H

#include <stddef.h>
#include <sys/types.h>

struct line {
    const char *verb, *name, *checkout;
    int user, system, debug;
};

/* A systemctl process started by the front: its pid and stdout pipe (and stderr's, or -1) */
struct started {
    pid_t pid;
    int out, err;
};

#define FILE_MAX (1 << 20)      /* the files the front reads are a few KB; larger: Python's */

int path_of(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The whole file at path, NUL-terminated, into a buffer the caller frees; its size in *n.
 * NULL with errno set when it cannot be read (EFBIG past limit bytes). */
char *read_file(const char *path, size_t limit, size_t *n);

/* All of a started process's stdout (NUL-terminated, freed by the caller; NULL: out of
 * memory), after which it is waited for. */
char *finish_output(struct started *p);

/* The status line of `status NAME` and the text after it, for the plain case of the
 * deployment dep (status.c); -1: not sure of every part of the line, nothing printed. */
int front_status(const char *name, const char *dep, struct started *status,
                 struct started *show);

#endif

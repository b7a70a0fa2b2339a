/*
 * The command's front: `syscontainers` as `make deps` installs it (docs/performance.md,
 * "The command's front").
 *
 * Python needs ~12 ms of CPU to start before the first line of ours runs; `systemctl stop`
 * of a detached unit takes 17-27 ms and `systemctl status` 10 ms, so a Python command cannot
 * be within 1.5x of them however little it does. For the plainest lines this front starts
 * the systemctl process at once, and often finishes the line without Python:
 *   start NAME   `systemctl start NAME.service` in lifecycle/quickcontrol.py's plain case;
 *   stop NAME    `systemctl stop NAME.service` in that plain case;
 *                when it succeeds (and a stop left no runtime state) that is all: the
 *                Python command would print nothing either;
 *   status NAME  `systemctl status` and the one `systemctl show` of the status row; in the
 *                plain case the front prints the status itself (status.c).
 * Anything else — a failure to word, a leftover to clear, a row it is not sure of — goes to
 * the Python command, which adopts the processes already started (their pids and pipes,
 * named in SYSCONTAINERS_EARLY; quickcontrol.adopt) and does the rest: every error line is
 * Python's. Any other command line is a plain exec of the Python command.
 *
 * It repeats quickcontrol's checks and the status row's rules; tests/unit/test_front.py
 * compares its verdicts and lines with the Python ones case by case.
 *
 * Threat model: it runs as whoever runs the command, reads the checkouts directory, the
 * deployment's info file, config.json and unit file copy, the unit file, and stats; the JSON
 * files are read by a strict validator that declines what it does not fully understand
 * (json.h). It writes nothing but its output.
 *
 * Built by scripts/write_launcher.py with -DPYTHON="..." -DLAUNCHER="...".
 */
#define _GNU_SOURCE
#include "front.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PYTHON
#error "PYTHON (the venv's python3) must be defined"
#endif
#ifndef LAUNCHER
#error "LAUNCHER (the Python launcher script) must be defined"
#endif

extern char **environ;

/* Copies of quickcontrol.py's values; tests/unit/test_front.py checks the behaviour. */
#define SYSTEM_CHECKOUTS "/var/lib/containers/atomic"
#define SYSTEM_CONFIG_FILE "/etc/containers/syscontainers.toml"
#define DEFAULT_RUNTIME "/usr/sbin/runc"
#define NAME_MAX_LEN 200
#define SHOW_PROPERTIES "--property=Id,LoadState,ActiveState,SubState,NRestarts"

/* ------------------------------------------------------------ the command line (cli/quick.py) */

static int value_option(const char *word, const char **value, char **argv, int *i, int argc,
                        const char *flag)
{
    size_t n = strlen(flag);
    if (strncmp(word, flag, n) != 0 || (word[n] != '\0' && word[n] != '='))
        return 0;
    if (word[n] == '=') {
        *value = word + n + 1;
    } else {
        if (*i + 1 >= argc)
            return -1;
        *value = argv[++*i];
    }
    return 1;
}

/* The global options then `start|stop|status NAME`, as quick.py's quick_args reads them;
 * 0: not such a line. */
static int parse(int argc, char **argv, struct line *l)
{
    const char *repo = NULL, *level = "info";
    int i = 1;
    memset(l, 0, sizeof *l);
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *w = argv[i];
        int r;
        if ((r = value_option(w, &l->checkout, argv, &i, argc, "--checkout-path")) ||
            (r = value_option(w, &repo, argv, &i, argc, "--repo")) ||
            (r = value_option(w, &level, argv, &i, argc, "--log-level"))) {
            if (r < 0)
                return 0;
            if (strcmp(level, "debug") && strcmp(level, "info") && strcmp(level, "warn"))
                return 0;
        } else if (!strcmp(w, "--system") && !l->system && !l->user) {
            l->system = 1;
        } else if (!strcmp(w, "--user") && !l->system && !l->user) {
            l->user = 1;
        } else if (strcmp(w, "-q") && strcmp(w, "--quiet")) {
            return 0;
        }
    }
    if (argc - i != 2 || argv[i + 1][0] == '-')
        return 0;
    if ((l->checkout && !*l->checkout) || (repo && !*repo))
        return 0;
    l->verb = argv[i];
    l->name = argv[i + 1];
    l->debug = !strcmp(level, "debug");
    return !strcmp(l->verb, "start") || !strcmp(l->verb, "stop") || !strcmp(l->verb, "status");
}

/* quickcontrol.plain_name */
static int plain_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN || strchr(".-@", name[0]) || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-", *p))
            return 0;
    return 1;
}

/* ------------------------------------------------------------ the plain case (quickcontrol.py) */

/* snprintf into a path buffer; 0 when it does not fit (the caller declines) */
int path_of(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* quickcontrol._checkouts: NULL unless root, system mode and no config file */
static const char *checkouts(const struct line *l)
{
    struct stat st;
    if (l->user || geteuid() != 0)
        return NULL;
    if (stat(env_or("SYSCONTAINERS_CONFIG", SYSTEM_CONFIG_FILE), &st) == 0 || errno != ENOENT)
        return NULL;
    return l->checkout ? l->checkout : env_or("ATOMIC_OSTREE_CHECKOUT_PATH", SYSTEM_CHECKOUTS);
}

/* quickcontrol._deployment: the deployment the NAME link points at, into dep */
static int deployment(const char *cps, const char *name, char *dep, size_t size)
{
    char link[PATH_MAX], target[PATH_MAX];
    ssize_t n;
    if (!path_of(link, sizeof link, "%s/%s", cps, name))
        return 0;
    n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    while (n > 1 && target[n - 1] == '/')
        n--;
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    size_t len = strlen(name);
    if (strncmp(base, name, len) != 0 || base[len] != '.' ||
        (strcmp(base + len + 1, "0") && strcmp(base + len + 1, "1")))
        return 0;
    return path_of(dep, size, "%s/%s", cps, base);
}

/* a stat of the marker .NAME.WHAT succeeds (or its path is too long: decline too) */
static int marker(const char *cps, const char *name, const char *what)
{
    char path[PATH_MAX];
    struct stat st;
    return !path_of(path, sizeof path, "%s/.%s.%s", cps, name, what) || stat(path, &st) == 0;
}

static int lexists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ------------------------------------------------------------ files */

/* All of fd to its end, NUL-terminated, in a buffer the caller frees; its size in *n. NULL
 * with errno set when it cannot be read (EFBIG past limit bytes, ENOMEM). */
static char *read_all(int fd, size_t limit, size_t *n)
{
    char *data = NULL, *more;
    size_t size = 0;
    ssize_t r;
    for (*n = 0;; *n += (size_t)r) {
        if (*n + 1 >= size) {
            more = size < limit + 2 ? realloc(data, size = size ? 2 * size : 8192) : NULL;
            if (!more) {
                errno = size >= limit + 2 ? EFBIG : ENOMEM;
                free(data);
                return NULL;
            }
            data = more;
        }
        while ((r = read(fd, data + *n, size - *n - 1)) < 0 && errno == EINTR)
            ;
        if (r < 0) {
            int saved = errno;
            free(data);
            errno = saved;
            return NULL;
        }
        if (r == 0) {
            data[*n] = '\0';
            return data;
        }
    }
}

char *read_file(const char *path, size_t limit, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), saved;
    char *data;
    if (fd < 0)
        return NULL;
    data = read_all(fd, limit, n);
    saved = errno;
    close(fd);
    errno = saved;
    return data;
}

struct runtime {
    char path[PATH_MAX];
    int ok;
};

/* the top-level "runtime" member (the last one, as json.loads keeps it) */
static int runtime_member(struct json *j, const char *key, size_t len, void *ctx)
{
    struct runtime *rt = ctx;
    struct jvalue v;
    if (!json_value(j, &v))
        return 0;
    if (len != 7 || memcmp(key, "runtime", 7))
        return 1;
    if (v.type == J_NULL || (v.type == J_STRING && v.len == 0)) {
        rt->path[0] = '\0';               /* falsy: the default runtime */
        rt->ok = 1;
    } else {                              /* escapes, another type: the Python path */
        rt->ok = v.type == J_STRING && !v.escaped && v.len < sizeof rt->path;
        if (rt->ok)
            memcpy(rt->path, v.text, v.len), rt->path[v.len] = '\0';
    }
    return 1;
}

/* The info file's runtime ("" for the default); 0: not an info file this front is sure of */
static int info_runtime(const char *dep, char *runtime, size_t size)
{
    char path[PATH_MAX], *data;
    struct runtime rt = {"", 1};
    size_t n;
    int ok;
    if (!path_of(path, sizeof path, "%s/info", dep) || !(data = read_file(path, FILE_MAX, &n)))
        return 0;
    ok = json_document(data, n, runtime_member, &rt) && rt.ok && strlen(rt.path) < size;
    free(data);
    if (ok)
        strcpy(runtime, rt.path);
    return ok;
}

/* quickcontrol._state_dir: where runc/crun keeps NAME's state; 0: not a plain runc/crun */
static int state_dir(const char *dep, const char *name, char *state, size_t size)
{
    char runtime[PATH_MAX];
    const char *base, *root;
    if (!info_runtime(dep, runtime, sizeof runtime))
        return 0;
    if (!runtime[0])
        strcpy(runtime, DEFAULT_RUNTIME);
    if (runtime[0] != '/' || access(runtime, X_OK) != 0)
        return 0;
    base = strrchr(runtime, '/') + 1;
    if (!strcmp(base, "runc"))
        root = "/run/runc";
    else if (!strcmp(base, "crun"))
        root = "/run/crun";
    else
        return 0;
    return path_of(state, size, "%s/%s", root, name);
}

/* quickcontrol._plain: the checkouts dir, and the deployment NAME's link points at in dep;
 * NULL: not the plain case */
static const char *plain(const struct line *l, char *dep, size_t size)
{
    const char *cps = checkouts(l);
    return cps && plain_name(l->name) && deployment(cps, l->name, dep, size) ? cps : NULL;
}

/* quickcontrol.start's and stop's conditions, with NAME's deployment (dep) */
static int plain_control(const struct line *l, char *dep, size_t size)
{
    char state[PATH_MAX];
    const char *cps = plain(l, dep, size);
    if (!cps)
        return 0;
    if (!strcmp(l->verb, "stop"))
        return 1;
    if (marker(cps, l->name, "switching") || marker(cps, l->name, "installing"))
        return 0;
    return state_dir(dep, l->name, state, sizeof state) && !lexists(state);
}

/* ------------------------------------------------------------ starting systemctl */

/* argv with stdout to a new pipe (stderr to another when capture_err, else /dev/null); the
 * read ends stay open across the exec of the Python command. 0: not started. */
static int spawn(char *const argv[], int capture_err, struct started *p)
{
    posix_spawn_file_actions_t fa;
    int o[2], e[2] = {-1, -1}, ok;
    if (pipe2(o, O_CLOEXEC) != 0)
        return 0;
    if (capture_err && pipe2(e, O_CLOEXEC) != 0) {
        close(o[0]);
        close(o[1]);
        return 0;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    if (capture_err)
        posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    ok = posix_spawnp(&p->pid, "systemctl", &fa, NULL, argv, environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
    close(o[1]);
    if (capture_err)
        close(e[1]);
    if (!ok) {
        close(o[0]);
        if (capture_err)
            close(e[0]);
        return 0;
    }
    p->out = o[0];
    p->err = e[0];
    return 1;
}

char *finish_output(struct started *p)
{
    size_t n;
    char *data = read_all(p->out, SIZE_MAX - 2, &n);
    close(p->out);
    waitpid(p->pid, NULL, 0);
    return data;
}

/* For the Python command, the pipes stay open across its exec; SYSCONTAINERS_EARLY names
 * them: "VERB NAME PID:OUT:ERR" (start, stop) or "status NAME PID:OUT PID:OUT" (status,
 * then show); quickcontrol.adopt reads it. */
static void hand_over(const struct line *l, struct started *p, int count)
{
    char env[512];
    int n = snprintf(env, sizeof env, "%s %s", l->verb, l->name);
    for (int i = 0; i < count; i++) {
        fcntl(p[i].out, F_SETFD, 0);
        if (p[i].err >= 0)
            fcntl(p[i].err, F_SETFD, 0);
        n += snprintf(env + n, sizeof env - (size_t)n, p[i].err >= 0 ? " %d:%d:%d" : " %d:%d",
                      (int)p[i].pid, p[i].out, p[i].err);
    }
    setenv("SYSCONTAINERS_EARLY", env, 1);
}

/* `systemctl status` and the `systemctl show` of the row, worded as
 * quickcontrol.early_status_text and Systemd._show word them; how many were started */
static int start_status(const struct line *l, const char *unit, struct started p[2])
{
    char *status[7] = {"systemctl"}, *show[7] = {"systemctl"};
    int n = 1;
    if (l->user || geteuid() != 0) {
        status[n] = show[n] = "--user";
        n++;
    }
    status[n] = "status", status[n + 1] = "--no-pager", status[n + 2] = "--full";
    status[n + 3] = (char *)unit;
    show[n] = "show", show[n + 1] = SHOW_PROPERTIES, show[n + 2] = "--";
    show[n + 3] = (char *)unit;
    if (!spawn(status, 0, &p[0]))
        return 0;
    return spawn(show, 0, &p[1]) ? 2 : 1;
}

/* status: the line itself in the plain case (status.c), else the processes handed over;
 * returns the exit status, or -1 to exec the Python command */
static int status(const struct line *l, const char *unit, const char *dep)
{
    struct started p[2];
    int count = start_status(l, unit, p), code;
    if (count == 2 && dep[0]) {
        signal(SIGPIPE, SIG_IGN);      /* a closed stdout: exit 1, as the Python command */
        if ((code = front_status(l->name, dep, &p[0], &p[1])) >= 0)
            return code;
        signal(SIGPIPE, SIG_DFL);
    }
    if (count > 0)
        hand_over(l, p, count);
    return -1;
}

/* start/stop: systemctl succeeded and, for a stop, no runtime state is left (what
 * quickcontrol.stop checks after it): then that was all, as on the Python side, which prints
 * nothing then either. 0: the Python command takes over (a failure to word, a leftover to
 * clear); systemctl's exit status and output are left for it (WNOWAIT, pipes unread). */
static int control_done(const struct line *l, struct started *p, const char *dep)
{
    char state[PATH_MAX];
    siginfo_t info;
    int r;
    while ((r = waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOWAIT)) != 0 && errno == EINTR)
        ;
    if (r != 0 || info.si_code != CLD_EXITED || info.si_status != 0)
        return 0;
    if (!strcmp(l->verb, "stop") && (!state_dir(dep, l->name, state, sizeof state) ||
                                     lexists(state)))
        return 0;
    waitpid(p->pid, NULL, 0);
    close(p->out);
    close(p->err);
    return 1;
}

/* 1: this line's systemctl may start now; dep: NAME's deployment in the plain case ("" when
 * a status is not) */
static int wanted(const struct line *l, char *dep, size_t size)
{
    dep[0] = '\0';
    if (l->debug || !plain_name(l->name))
        return 0;
    if (!strcmp(l->verb, "status")) {
        if (!plain(l, dep, size))
            dep[0] = '\0';
        return !(l->system && geteuid() != 0);
    }
    return plain_control(l, dep, size);
}

static int exec_python(char **argv, int argc)
{
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (args) {
        args[0] = PYTHON;
        args[1] = "-S";
        args[2] = LAUNCHER;
        memcpy(args + 3, argv + 1, (size_t)argc * sizeof *args);   /* with argv's NULL */
        execv(PYTHON, args);
        free(args);
    }
    fprintf(stderr, "error: cannot run %s: %s (run `make deps` again)\n", PYTHON,
            strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    struct line l;
    struct started p;
    char unit[NAME_MAX_LEN + 16], dep[PATH_MAX];
    int code;
    unsetenv("SYSCONTAINERS_EARLY");    /* only ever this run's */
    if (!parse(argc, argv, &l) || !wanted(&l, dep, sizeof dep))
        return exec_python(argv, argc);
    snprintf(unit, sizeof unit, "%s.service", l.name);
    if (!strcmp(l.verb, "status")) {
        if ((code = status(&l, unit, dep)) >= 0)
            return code;
    } else {
        char *cmd[] = {"systemctl", (char *)l.verb, unit, NULL};
        if (spawn(cmd, 1, &p)) {
            if (control_done(&l, &p, dep))
                return 0;
            hand_over(&l, &p, 1);
        }
    }
    return exec_python(argv, argc);
}

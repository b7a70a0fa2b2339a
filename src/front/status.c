/*
 * `status NAME` in the plain case, without Python (docs/performance.md, "The command's front").
 *
 * The first line is the row the full path builds (lifecycle/query.py _read_row and status,
 * cli/containers.py _status) from the info file, config.json, the unit file and its copy
 * and one `systemctl show`, worded by service/unitstate.py; then the text of
 * `systemctl status`. This file builds it only when the row holds nothing the full path
 * would treat otherwise: an info file whose known fields all have their types
 * (deploy/infofields.py INFO_TYPES, copied below), no health check (the full path probes
 * it), an image name the reference parser leaves as it is, a config.json whose process.args
 * is a list of strings, and files json.h reads without declining. Anything else returns -1
 * before anything is printed, and the Python command takes the line.
 *
 * tests/integration/test_front.py compares this line with the full path's on real
 * containers in each state; tests/unit/test_front.py checks the field table and the image
 * rule against the Python ones.
 */
#define _GNU_SOURCE
#include "front.h"
#include "json.h"
#include "sha256.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYSTEM_UNITS_DIR "/etc/systemd/system"      /* paths.SYSTEM_UNITS_DIR */

/* deploy/infofields.py INFO_TYPES, by the info file's (hyphenated) names */
static const struct field {
    const char *name;
    int types;
} FIELDS[] = {
    {"image", J_STRING}, {"revision", J_STRING}, {"ostree-commit", J_STRING},
    {"created", J_NUMBER}, {"values", J_OBJECT}, {"has-container-service", J_TRUE | J_FALSE},
    {"installed-files", J_ARRAY}, {"installed-files-checksum", J_OBJECT},
    {"installed-files-template", J_ARRAY}, {"rename-installed-files", J_OBJECT},
    {"rpm-installed", J_STRING | J_NULL},
    {"system-package", J_STRING | J_NULL | J_FALSE},   /* null, false: "no" */
    {"remote", J_STRING | J_NULL}, {"use-links", J_TRUE | J_FALSE}, {"runtime", J_STRING},
    {"source", J_STRING | J_NULL}, {"source-transport", J_STRING | J_NULL},
    {"source-tls-verify", J_TRUE | J_FALSE | J_NULL}, {"source-credentials", J_STRING | J_NULL},
    {"source-signature-policy", J_STRING | J_NULL}, {"source-auth-file", J_STRING | J_NULL},
    {"source-cert-dir", J_STRING | J_NULL}, {"secret-values", J_ARRAY},
    {"allowed-privileges", J_ARRAY | J_NULL}, {"config-checksum", J_STRING | J_NULL},
    {"pinned", J_TRUE | J_FALSE}, {"pinned-reason", J_STRING | J_NULL},
    {"auto-update", J_STRING | J_NULL},
    /* a check is probed by the full path: only null here */
    {"health-check", J_NULL}, {"image-health-check", J_NULL},
};

struct info {
    struct jvalue image, revision, auto_update, checksum;
    int pinned;
};

static int is(const char *key, size_t len, const char *name)
{
    return len == strlen(name) && !memcmp(key, name, len);
}

static int info_member(struct json *j, const char *key, size_t len, void *ctx)
{
    struct info *info = ctx;
    struct jvalue v;
    if (!json_value(j, &v))
        return 0;
    for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++) {
        if (!is(key, len, FIELDS[i].name))
            continue;
        if (!(v.type & FIELDS[i].types))
            return 0;
        if (is(key, len, "image"))
            info->image = v;
        else if (is(key, len, "revision"))
            info->revision = v;
        else if (is(key, len, "auto-update"))
            info->auto_update = v;
        else if (is(key, len, "config-checksum"))
            info->checksum = v;
        else if (is(key, len, "pinned"))
            info->pinned = v.type == J_TRUE;
        break;
    }
    return 1;
}

static int process_member(struct json *j, const char *key, size_t len, void *ctx)
{
    struct jvalue v;
    (void)ctx;
    if (is(key, len, "args") && j->p < j->end && *j->p == '[')
        return json_strings(j);
    return json_value(j, &v) && (!is(key, len, "args") || v.type == J_NULL);
}

/* config.json: process.args null, absent or a list of strings (deployment.args_of_config) */
static int config_member(struct json *j, const char *key, size_t len, void *ctx)
{
    struct jvalue v;
    if (is(key, len, "process") && j->p < j->end && *j->p == '{')
        return json_object(j, process_member, ctx);
    return json_value(j, &v);
}

/* query.normalize_image leaves the name as it is (quickstatus rule: a registry host first,
 * a tag or digest last, not a one-component Docker Hub name) */
static int canonical_image(const struct jvalue *v)
{
    char name[512], *slash, *last;
    if (v->type != J_STRING || v->escaped || v->len == 0 || v->len >= sizeof name)
        return 0;
    memcpy(name, v->text, v->len);
    name[v->len] = '\0';
    if (!(slash = strchr(name, '/')) || !slash[1])
        return 0;
    *slash = '\0';
    if (!strchr(name, '.') && !strchr(name, ':') && strcmp(name, "localhost"))
        return 0;
    if (!strcasecmp(name, "docker.io") && !strchr(slash + 1, '/'))
        return 0;
    last = strrchr(slash + 1, '/');
    last = last ? last + 1 : slash + 1;
    return strchr(last, ':') || strchr(last, '@');
}

static int ascii(const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)data[i] >= 0x80)
            return 0;
    return 1;
}

/* A file that may be missing: 1 read (*data NULL when missing), 0: unreadable otherwise, or
 * not ASCII (the full path decodes UTF-8; only ASCII is surely the same bytes and text). */
static int optional_file(const char *path, char **data, size_t *n)
{
    *data = read_file(path, FILE_MAX, n);
    if (!*data)
        return errno == ENOENT || errno == ENOTDIR;
    if (ascii(*data, *n))
        return 1;
    free(*data);
    return 0;
}

/* query.quick_drift: the unit file against the deployment's copy, then config.json
 * against its recorded checksum; -1: a file it cannot judge */
static int drifted(const char *name, const char *dep, const char *config, size_t config_n,
                   const struct jvalue *checksum)
{
    char path[4096], *copy, *unit, hex[65];
    size_t copy_n, unit_n;
    int differ = 0;
    if (!path_of(path, sizeof path, "%s/%s.service", dep, name) ||
        !optional_file(path, &copy, &copy_n))
        return -1;
    if (copy) {
        if (!path_of(path, sizeof path, SYSTEM_UNITS_DIR "/%s.service", name) ||
            !optional_file(path, &unit, &unit_n)) {
            free(copy);
            return -1;
        }
        differ = !unit || unit_n != copy_n || memcmp(unit, copy, copy_n);
        free(unit);
        free(copy);
        if (differ)
            return 1;
    }
    if (checksum->type != J_STRING || checksum->len == 0)
        return 0;
    if (checksum->escaped)
        return -1;
    if (!config)
        return 1;
    sha256_hex((const unsigned char *)config, config_n, hex);
    return checksum->len != 64 || memcmp(hex, checksum->text, 64);
}

struct row {
    struct info info;
    int drifted;
};

/* The parts of the row that come from files; 0: not sure of them */
static int read_row(const char *name, const char *dep, struct row *row, char **info_data)
{
    char path[4096], *config;
    size_t n, config_n;
    struct stat st;
    int ok;
    memset(row, 0, sizeof *row);
    row->info.image.type = row->info.revision.type = J_STRING;   /* "" when absent */
    if (lstat(dep, &st) != 0 || !S_ISDIR(st.st_mode) ||
        !path_of(path, sizeof path, "%s/info", dep) ||
        !(*info_data = read_file(path, FILE_MAX, &n)))
        return 0;
    if (!json_document(*info_data, n, info_member, &row->info) ||
        !canonical_image(&row->info.image) || row->info.revision.escaped)
        return 0;
    if (!path_of(path, sizeof path, "%s/config.json", dep) ||
        !optional_file(path, &config, &config_n))
        return 0;
    ok = !config || json_document(config, config_n, config_member, NULL);
    if (ok)
        row->drifted = drifted(name, dep, config, config_n, &row->info.checksum);
    free(config);
    return ok && row->drifted >= 0;
}

/* ---------------------------------------------------------- the unit (service/unitstate.py) */

struct props {
    char load[64], active[64], sub[64], restarts[32];
    int found, has_load;
};

static void copy_value(char *dst, size_t size, const char *value, size_t n)
{
    n = n < size - 1 ? n : size - 1;
    memcpy(dst, value, n);
    dst[n] = '\0';
}

/* unitstate.parse_show: the block of `systemctl show` whose Id is unit */
static void parse_show(const char *out, const char *unit, struct props *p)
{
    const char *block = out;
    while (*block) {
        const char *end = strstr(block, "\n\n"), *stop = end ? end : block + strlen(block);
        struct props q = {0};
        int is_unit = 0;
        for (const char *ln = block; ln < stop;) {
            const char *nl = memchr(ln, '\n', (size_t)(stop - ln)), *eol = nl ? nl : stop;
            const char *eq = memchr(ln, '=', (size_t)(eol - ln));
            if (eq) {
                size_t k = (size_t)(eq - ln), vn = (size_t)(eol - eq - 1);
                if (k == 2 && !memcmp(ln, "Id", 2))
                    is_unit = vn == strlen(unit) && !memcmp(eq + 1, unit, vn);
                else if (k == 9 && !memcmp(ln, "LoadState", 9))
                    copy_value(q.load, sizeof q.load, eq + 1, vn), q.has_load = 1;
                else if (k == 11 && !memcmp(ln, "ActiveState", 11))
                    copy_value(q.active, sizeof q.active, eq + 1, vn);
                else if (k == 8 && !memcmp(ln, "SubState", 8))
                    copy_value(q.sub, sizeof q.sub, eq + 1, vn);
                else if (k == 9 && !memcmp(ln, "NRestarts", 9))
                    copy_value(q.restarts, sizeof q.restarts, eq + 1, vn);
            }
            ln = eol + 1;
        }
        if (is_unit) {
            *p = q;
            p->found = 1;
        }
        block = end ? end + 2 : stop;
    }
}

static const char *status_of(const char *active)
{
    static const char *const map[][2] = {
        {"active", "running"}, {"reloading", "running"}, {"activating", "starting"},
        {"deactivating", "stopping"}, {"inactive", "inactive"}, {"failed", "failed"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(active, map[i][0]))
            return map[i][1];
    return active;
}

/* unitstate.state_of, then display and row_text (no health: such rows are not built here) */
static const char *state_text(const struct props *p, int drifted, int pinned, char *text,
                              size_t size)
{
    const char *status;
    long restarts = 0;
    char *end;
    if ((!p->has_load || !*p->load || !strcmp(p->load, "not-found")) &&
        (!*p->active || !strcmp(p->active, "inactive"))) {
        status = "no service";
    } else {
        restarts = *p->restarts ? strtol(p->restarts, &end, 10) : 0;
        if (*p->restarts && *end)
            restarts = 0;
        status = status_of(p->active);
        if (!strcmp(p->sub, "auto-restart") || (!strcmp(p->active, "activating") && restarts > 0))
            status = "restarting";
    }
    if (!strcmp(status, "restarting"))
        snprintf(text, size, "restarting (%ld)", restarts);
    else if (restarts && (!strcmp(status, "running") || !strcmp(status, "failed")))
        snprintf(text, size, "%s (%ld restarts)", status, restarts);
    else
        snprintf(text, size, "%s", status);
    if (drifted)
        strncat(text, ", drifted", size - strlen(text) - 1);
    if (pinned)
        strncat(text, ", pinned", size - strlen(text) - 1);
    return status;
}

/* ---------------------------------------------------------- the line */

static int write_all(const char *data, size_t n)
{
    while (n) {
        ssize_t w = write(1, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        data += w;
        n -= (size_t)w;
    }
    return 1;
}

static void discard(struct started *p)
{
    close(p->out);
    waitpid(p->pid, NULL, 0);
}

int front_status(const char *name, const char *dep, struct started *status,
                 struct started *show)
{
    struct row row;
    struct props props = {0};
    char *info = NULL, *out, *text, state[128], unit[256], line[1024];
    const char *au, *st;
    int written, n;
    if (!read_row(name, dep, &row, &info)) {
        free(info);
        return -1;
    }
    snprintf(unit, sizeof unit, "%s.service", name);
    if (!(out = finish_output(show))) {
        discard(status);
        free(info);
        return 1;
    }
    parse_show(out, unit, &props);
    free(out);
    st = state_text(&props, row.drifted, row.info.pinned, state, sizeof state);
    au = json_is(&row.info.auto_update, "registry") ? "registry"
         : json_is(&row.info.auto_update, "local") ? "local" : "off";
    n = snprintf(line, sizeof line, "%s: %s (image %.*s, %.*s, auto-update %s)\n", name, state,
                 (int)row.info.image.len, row.info.image.text,
                 (int)(row.info.revision.len < 12 ? row.info.revision.len : 12),
                 row.info.revision.text ? row.info.revision.text : "", au);
    free(info);
    text = finish_output(status);
    written = n > 0 && n < (int)sizeof line && write_all(line, (size_t)n) &&
              text && write_all(text, strlen(text));
    free(text);
    if (!written)
        return 1;           /* a closed stdout (as Python's BrokenPipeError): 1 */
    return !strcmp(st, "running") ? 0 : 3;
}

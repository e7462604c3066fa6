/* Docker backend, Swarm part: the engine's swarm state, services, tasks,
 * nodes, secrets and pushes to a registry, on the transport in
 * docker_http.c. Everything is made with the caller's labels, so it is
 * found again after a crash (docker_list). */
#include <errno.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "docker_http.h"

static int no_memory(const char *what, tf_err *err)
{
    return tf_err_set(err, TF_ERR_INTERNAL, "docker: %s: out of memory", what);
}

/* Copies s (may be NULL: "") into out, cut to size. */
static void copy_str(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s != NULL ? s : "");
}

int docker_swarm_state(struct docker *d, struct docker_swarm *out, tf_err *err)
{
    json_t *info = NULL;
    *out = (struct docker_swarm){0};
    int rc = docker__call(d, "GET", "/info", NULL, &info, 0, NULL, "info", err);
    if (rc < 0)
        return rc;
    json_t *swarm = json_object_get(info, "Swarm");
    const char *state = json_string_value(json_object_get(swarm, "LocalNodeState"));
    out->active = state != NULL && strcmp(state, "active") == 0;
    out->manager = out->active && json_is_true(json_object_get(swarm, "ControlAvailable"));
    out->nodes = (int)json_integer_value(json_object_get(swarm, "Nodes"));
    copy_str(out->node_id, sizeof out->node_id,
             json_string_value(json_object_get(swarm, "NodeID")));
    json_decref(info);
    return 0;
}

/* Appends the strings of a C array to a new JSON array. */
static json_t *string_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* TaskTemplate.ContainerSpec: what docker_container_body makes for a
 * container, in the words of a service. Hardening the service API of 1.41
 * cannot express (no-new-privileges) is left to the image's user, who is
 * not root. */
static json_t *container_spec(const struct docker_service_spec *s)
{
    const struct docker_container_spec *c = s->container;
    /* A second to stop: handlers hold no state, and some ignore SIGTERM. */
    json_t *spec =
        json_pack("{s:s, s:o, s:o, s:b, s:I, s:[s]}", "Image", c->image, "Env",
                  string_array(c->env, c->n_env), "Labels",
                  c->labels ? json_incref(c->labels) : json_object(), "ReadOnly", c->read_only,
                  "StopGracePeriod", (json_int_t)1000000000, "CapabilityDrop", "ALL");
    if (spec == NULL)
        return NULL;
    if (c->user != NULL)
        json_object_set_new(spec, "User", json_string(c->user));
    if (c->workdir != NULL)
        json_object_set_new(spec, "Dir", json_string(c->workdir));
    if (c->entrypoint != NULL)
        json_object_set_new(spec, "Command", string_array(c->entrypoint, c->n_entrypoint));
    if (c->read_only)
        json_object_set_new(spec, "Mounts",
                            json_pack("[{s:s, s:s, s:{s:I}}]", "Type", "tmpfs", "Target", "/tmp",
                                      "TmpfsOptions", "SizeBytes", (json_int_t)64 << 20));
    if (s->secret_id != NULL)
        json_object_set_new(spec, "Secrets",
                            json_pack("[{s:{s:s, s:s, s:s, s:i}, s:s, s:s}]", "File", "Name",
                                      DOCKER_SECRET_FILE_NAME, "UID", s->secret_uid, "GID",
                                      s->secret_uid, "Mode", 0400, "SecretID", s->secret_id,
                                      "SecretName", s->secret_name));
    return spec;
}

/* TaskTemplate.Resources: the same limits as a container's. */
static json_t *resources(const struct docker_container_spec *c)
{
    json_t *limits = json_object();
    if (limits == NULL)
        return NULL;
    if (c->memory_bytes > 0)
        json_object_set_new(limits, "MemoryBytes", json_integer(c->memory_bytes));
    if (c->nano_cpus > 0)
        json_object_set_new(limits, "NanoCPUs", json_integer(c->nano_cpus));
    if (c->pids_limit > 0)
        json_object_set_new(limits, "Pids", json_integer(c->pids_limit));
    return json_pack("{s:o}", "Limits", limits);
}

json_t *docker_service_body(const struct docker_service_spec *s)
{
    /* Swarm restarts a task whose process ended, on any node that fits:
     * the daemon only follows where its tasks run. */
    json_t *task = json_pack(
        "{s:o, s:o, s:{s:s, s:I, s:I}, s:{s:s, s:{s:s, s:s}}, s:{s:o}}", "ContainerSpec",
        container_spec(s), "Resources", resources(s->container), "RestartPolicy", "Condition",
        "any", "Delay", (json_int_t)1000000000, "MaxAttempts", (json_int_t)0, "LogDriver", "Name",
        "json-file", "Options", "max-size", "10m", "max-file", "2", "Placement", "Constraints",
        s->constraints ? json_incref(s->constraints) : json_array());
    if (task != NULL && s->network != NULL)
        json_object_set_new(task, "Networks", json_pack("[{s:s}]", "Target", s->network));
    /* dnsrr: no virtual IP (this needs IPVS, which edge kernels may lack);
     * host mode: each task's port on its node, the engine's pick, read back
     * from the tasks API. The routing mesh is not needed: the daemon
     * reaches every task itself. */
    json_t *endpoint = json_pack("{s:s, s:[{s:s, s:i, s:s}]}", "Mode", "dnsrr", "Ports", "Protocol",
                                 "tcp", "TargetPort", s->target_port, "PublishMode", "host");
    json_t *body =
        json_pack("{s:s, s:o, s:o, s:{s:{s:I}}, s:o}", "Name", s->name ? s->name : "", "Labels",
                  s->labels ? json_incref(s->labels) : json_object(), "TaskTemplate", task, "Mode",
                  "Replicated", "Replicas", (json_int_t)s->replicas, "EndpointSpec", endpoint);
    return body;
}

int docker_service_create(struct docker *d, json_t *body, char id_out[DOCKER_ID_MAX], tf_err *err)
{
    return docker__create(d, "/services/create", body, "ID", id_out, "create service", err);
}

int docker_service_inspect(struct docker *d, const char *id, json_t **out, tf_err *err)
{
    char *path = docker__path("/services/%s", id);
    if (path == NULL)
        return no_memory("inspect service", err);
    int rc = docker__call(d, "GET", path, NULL, out, 1, NULL, "inspect service", err);
    free(path);
    return rc;
}

int docker_service_scale(struct docker *d, const char *id, long long replicas, tf_err *err)
{
    json_t *svc = NULL;
    int rc = docker_service_inspect(d, id, &svc, err);
    if (rc == 0 && svc == NULL)
        return tf_err_set(err, TF_ERR_NOT_FOUND, "docker: scale service: no service %.12s", id);
    json_t *spec = json_object_get(svc, "Spec");
    json_int_t version =
        json_integer_value(json_object_get(json_object_get(svc, "Version"), "Index"));
    char index[24];
    snprintf(index, sizeof index, "%lld", (long long)version);
    char *path = rc == 0 ? docker__path("/services/%s/update?version=%s", id, index) : NULL;
    if (rc == 0 && (path == NULL ||
                    json_object_set_new(json_object_get(spec, "Mode"), "Replicated",
                                        json_pack("{s:I}", "Replicas", (json_int_t)replicas)) < 0))
        rc = no_memory("scale service", err);
    if (rc == 0)
        rc = docker__call(d, "POST", path, spec, NULL, 0, NULL, "scale service", err);
    free(path);
    json_decref(svc);
    return rc;
}

int docker_service_remove(struct docker *d, const char *id, tf_err *err)
{
    return docker__remove(d, "/services/%s", id, "remove service", err);
}

/* GET path with the filters object given as JSON, its array answer in *out. */
static int list_filtered(struct docker *d, const char *fmt, json_t *filters, json_t **out,
                         const char *what, tf_err *err)
{
    char *text = filters != NULL ? json_dumps(filters, JSON_COMPACT) : NULL;
    char *path = text != NULL ? docker__path(fmt, text) : NULL;
    int rc = path != NULL ? docker__call(d, "GET", path, NULL, out, 0, NULL, what, err)
                          : no_memory(what, err);
    if (rc == 0 && !json_is_array(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: %s: the engine gave no array", what);
    }
    free(path);
    free(text);
    return rc;
}

/* The host-mode port a task published for target, or 0. */
static uint16_t published_port(json_t *task, int target)
{
    json_t *ports =
        json_object_get(json_object_get(json_object_get(task, "Status"), "PortStatus"), "Ports");
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        json_int_t t = json_integer_value(json_object_get(p, "TargetPort"));
        json_int_t pub = json_integer_value(json_object_get(p, "PublishedPort"));
        if (t == target && pub > 0 && pub < 65536)
            return (uint16_t)pub;
    }
    return 0;
}

static void task_from_json(json_t *t, int target_port, struct docker_task *out)
{
    json_t *status = json_object_get(t, "Status");
    copy_str(out->id, sizeof out->id, json_string_value(json_object_get(t, "ID")));
    copy_str(out->service, sizeof out->service, json_string_value(json_object_get(t, "ServiceID")));
    copy_str(out->node, sizeof out->node, json_string_value(json_object_get(t, "NodeID")));
    copy_str(out->state, sizeof out->state, json_string_value(json_object_get(status, "State")));
    copy_str(out->desired, sizeof out->desired,
             json_string_value(json_object_get(t, "DesiredState")));
    copy_str(out->error, sizeof out->error, json_string_value(json_object_get(status, "Err")));
    copy_str(out->container, sizeof out->container,
             json_string_value(
                 json_object_get(json_object_get(status, "ContainerStatus"), "ContainerID")));
    out->slot = (int)json_integer_value(json_object_get(t, "Slot"));
    out->port = published_port(t, target_port);
}

int docker_tasks(struct docker *d, const char *key, const char *value, int target_port,
                 struct docker_task **out, size_t *n, tf_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *ans = NULL, *filters = json_pack("{s:[s]}", key, value);
    int rc = filters != NULL
                 ? list_filtered(d, "/tasks?filters=%s", filters, &ans, "list tasks", err)
                 : no_memory("list tasks", err);
    size_t count = json_array_size(ans);
    if (rc == 0 && count > 0 && (*out = calloc(count, sizeof **out)) == NULL)
        rc = no_memory("list tasks", err);
    for (size_t i = 0; rc == 0 && i < count; i++)
        task_from_json(json_array_get(ans, i), target_port, &(*out)[(*n)++]);
    json_decref(ans);
    json_decref(filters);
    return rc;
}

int docker_nodes(struct docker *d, struct docker_node **out, size_t *n, tf_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *ans = NULL;
    int rc = docker__call(d, "GET", "/nodes", NULL, &ans, 0, NULL, "list nodes", err);
    size_t count = json_array_size(ans);
    if (rc == 0 && count > 0 && (*out = calloc(count, sizeof **out)) == NULL)
        rc = no_memory("list nodes", err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        json_t *node = json_array_get(ans, i), *status = json_object_get(node, "Status");
        struct docker_node *o = &(*out)[(*n)++];
        const char *state = json_string_value(json_object_get(status, "State"));
        copy_str(o->id, sizeof o->id, json_string_value(json_object_get(node, "ID")));
        copy_str(
            o->hostname, sizeof o->hostname,
            json_string_value(json_object_get(json_object_get(node, "Description"), "Hostname")));
        copy_str(o->addr, sizeof o->addr, json_string_value(json_object_get(status, "Addr")));
        o->ready = state != NULL && strcmp(state, "ready") == 0;
    }
    json_decref(ans);
    return rc;
}

int docker_secret_create(struct docker *d, const char *name, const void *data, size_t len,
                         json_t *labels, char id_out[DOCKER_ID_MAX], tf_err *err)
{
    id_out[0] = '\0';
    char *b64 = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
    if (b64 == NULL)
        return no_memory("create secret", err);
    base64_encode_raw(b64, len, data);
    b64[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
    json_t *body = json_pack("{s:s, s:s, s:o}", "Name", name, "Data", b64, "Labels",
                             labels != NULL ? json_incref(labels) : json_object());
    int rc = docker__create(d, "/secrets/create", body, "ID", id_out, "create secret", err);
    json_decref(body);
    free(b64);
    return rc;
}

int docker_secret_remove(struct docker *d, const char *id, tf_err *err)
{
    return docker__remove(d, "/secrets/%s", id, "remove secret", err);
}

int docker_image_id(struct docker *d, const char *ref, char id_out[DOCKER_ID_MAX], tf_err *err)
{
    json_t *img = NULL;
    char *path = docker__path("/images/%s/json", ref);
    int rc = path != NULL ? docker__call(d, "GET", path, NULL, &img, 0, NULL, "inspect image", err)
                          : no_memory("inspect image", err);
    const char *id = json_string_value(json_object_get(img, "Id"));
    if (rc == 0 && (id == NULL || strlen(id) >= DOCKER_ID_MAX))
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: inspect image: the engine gave no id");
    else if (rc == 0)
        copy_str(id_out, DOCKER_ID_MAX, id);
    json_decref(img);
    free(path);
    return rc;
}

/* The push answer is a stream of JSON objects, one a line: progress, then
 * {"aux": {"Digest": ...}}, or {"error": ...} when it failed. */
struct push {
    struct docker__buf line;
    char digest[80];
    char error[200];
};

static void push_object(struct push *p, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *digest = json_string_value(json_object_get(json_object_get(j, "aux"), "Digest"));
    const char *error = json_string_value(json_object_get(j, "error"));
    if (digest != NULL)
        copy_str(p->digest, sizeof p->digest, digest);
    if (error != NULL && p->error[0] == '\0')
        copy_str(p->error, sizeof p->error, error);
    json_decref(j);
}

static int push_feed(void *ctx, const char *data, size_t n)
{
    struct push *p = ctx;
    int rc = docker__buf_add(&p->line, data, n);
    char *start = p->line.p, *nl;
    while (rc == 0 && (nl = memchr(start, '\n', p->line.len - (size_t)(start - p->line.p)))) {
        push_object(p, start, (size_t)(nl - start));
        start = nl + 1;
    }
    if (rc == 0) {
        size_t rest = p->line.len - (size_t)(start - p->line.p);
        memmove(p->line.p, start, rest + 1);
        p->line.len = rest;
    }
    return rc;
}

/* A registry that stops answering must not hold a deploy, and its name,
 * for ever; a function image on a site's network goes in seconds. */
#define PUSH_TIMEOUT_S 600

int docker_image_push(struct docker *d, const char *image, const char *repo, const char *tag,
                      char ref_out[DOCKER_REF_MAX], tf_err *err)
{
    ref_out[0] = '\0';
    char *tag_path = docker__path("/images/%s/tag?repo=%s&tag=%s", image, repo, tag);
    char *push_path = docker__path("/images/%s/push?tag=%s", repo, tag);
    struct push p = {0};
    /* The engine insists on credentials even for a registry that takes
     * none: an empty JSON object, in base64. */
    struct docker__sink sink = {.stream = push_feed, .ctx = &p, .header = "X-Registry-Auth: e30="};
    long http = 0;
    int rc = tag_path != NULL && push_path != NULL ? 0 : no_memory("push image", err);
    if (rc == 0)
        rc = docker__call(d, "POST", tag_path, NULL, NULL, 0, NULL, "tag image", err);
    if (rc == 0)
        rc =
            docker__request(d, "POST", push_path, NULL, 0, NULL, PUSH_TIMEOUT_S, &sink, &http, err);
    if (rc == 0 && (http < 200 || http >= 300))
        rc = docker__engine_error(http, &sink.body, "push image", err);
    if (rc == 0 && p.line.len > 0)
        push_object(&p, p.line.p, p.line.len);
    if (rc == 0 && p.error[0] != '\0')
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: push %s: %s", repo, p.error);
    else if (rc == 0 && strncmp(p.digest, "sha256:", 7) != 0)
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: push %s: the registry gave no digest", repo);
    else if (rc == 0 &&
             (size_t)snprintf(ref_out, DOCKER_REF_MAX, "%s@%s", repo, p.digest) >= DOCKER_REF_MAX)
        rc = tf_err_set(err, TF_ERR_INVALID, "docker: push: the name %s is too long", repo);
    docker__buf_free(&p.line);
    docker__buf_free(&sink.body);
    free(tag_path);
    free(push_path);
    return rc;
}

int docker_overlay_create(struct docker *d, const char *name, json_t *labels,
                          char id_out[DOCKER_ID_MAX], tf_err *err)
{
    json_t *body = json_pack("{s:s, s:s, s:O, s:b, s:b}", "Name", name, "Driver", "overlay",
                             "Labels", labels, "CheckDuplicate", 1, "Attachable", 0);
    int rc = docker__create(d, "/networks/create", body, "Id", id_out, "create network", err);
    json_decref(body);
    return rc;
}

int docker_image_untag(struct docker *d, const char *ref, tf_err *err)
{
    return docker__remove(d, "/images/%s?noprune=1", ref, "untag image", err);
}

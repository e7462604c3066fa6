/* The Docker objects of a function's versions: their labels, and their
 * removal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"
#include "log.h"

json_t *lifecycle_labels(struct lifecycle *lc, const char *name, unsigned version)
{
    char v[16];
    snprintf(v, sizeof v, "%u", version);
    return json_pack("{s:s, s:s, s:s}", LABEL_INSTANCE, lc->cfg.instance_id, LABEL_FUNCTION, name,
                     LABEL_VERSION, v);
}

json_t *lifecycle_image_labels(struct lifecycle *lc, const struct function_record *r)
{
    json_t *labels = lifecycle_labels(lc, r->name, r->version);
    if (labels != NULL && json_object_set_new(labels, LABEL_DIGEST, json_string(r->digest)) < 0) {
        json_decref(labels);
        return NULL;
    }
    return labels;
}

/* The images of one function among the daemon's, as pick says. */
struct image_sweep {
    const char *name;
    enum image_pick pick;
    const char *digest;
    struct docker_ids ids;
};

static void pick_image(void *ctx, const char *id, json_t *labels)
{
    struct image_sweep *sw = ctx;
    const char *function = json_string_value(json_object_get(labels, LABEL_FUNCTION));
    const char *digest = json_string_value(json_object_get(labels, LABEL_DIGEST));
    if (function == NULL || strcmp(function, sw->name) != 0)
        return;
    bool same = digest != NULL && strcmp(digest, sw->digest) == 0;
    if (sw->pick == IMAGES_ALL || (sw->pick == IMAGES_OF_DIGEST) == same)
        docker_ids_collect(&sw->ids, id, labels);
}

void lifecycle_remove_images(struct lifecycle *lc, const char *name, enum image_pick pick,
                             const char *digest)
{
    char label[128];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    struct image_sweep sw = {.name = name, .pick = pick, .digest = digest ? digest : ""};
    tf_err e;
    if (docker_list(lc->cfg.docker, DOCKER_IMAGES, label, pick_image, &sw, &e) < 0)
        log_warn("function %s: %s", name, e.msg);
    /* Newest first, so a child goes before the image it was built on. */
    for (size_t i = 0; i < sw.ids.n; i++)
        if (docker_image_remove(lc->cfg.docker, sw.ids.ids[i], &e) < 0)
            log_warn("function %s: %s", name, e.msg);
    docker_ids_free(&sw.ids);
}

void lifecycle_remove_objects(struct lifecycle *lc, const struct function_record *r)
{
    if (lc->cfg.swarm) {
        lifecycle_swarm_remove(lc, r);
        return;
    }
    tf_err e;
    for (size_t i = 0; i < r->n_containers; i++)
        if (r->containers[i][0] &&
            docker_container_remove(lc->cfg.docker, r->containers[i], &e) < 0)
            log_warn("function %s: %s", r->name, e.msg);
    lifecycle_remove_socket_dirs(lc, r, 0, r->n_containers);
}

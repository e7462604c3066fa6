/* fn.sh's environment, CGI style (RFC 3875 section 4.1.18): each request
 * header becomes HTTP_<NAME>, the method REQUEST_METHOD; the operator's
 * variables (the shim's own environment) pass through. */
#include "shim.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

/* Header names that cannot become a variable name are dropped, as web servers
 * do, rather than mangled into a name another header might also produce. */
static bool header_ok(struct hproto_bytes name)
{
    if (name.len == 0)
        return false;
    /* httpoxy (CVE-2016-5385): a "Proxy" header would become HTTP_PROXY,
     * which curl, wget and friends take as their proxy. */
    if (name.len == 5 && strncasecmp(name.ptr, "proxy", 5) == 0)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if (!isalnum((unsigned char)name.ptr[i]) && name.ptr[i] != '-' && name.ptr[i] != '_')
            return false;
    return true;
}

static char *header_var(const struct hproto_header *h)
{
    /* A NUL inside a value cannot cross execve(); the value ends there. */
    size_t vlen = strnlen(h->value.ptr != NULL ? h->value.ptr : "", h->value.len);
    char *s = malloc(5 + h->key.len + 1 + vlen + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, "HTTP_", 5);
    char *p = s + 5;
    for (size_t i = 0; i < h->key.len; i++)
        *p++ = h->key.ptr[i] == '-' ? '_' : (char)toupper((unsigned char)h->key.ptr[i]);
    *p++ = '=';
    if (vlen > 0)
        memcpy(p, h->value.ptr, vlen);
    p[vlen] = '\0';
    return s;
}

static bool same_name(const char *a, const char *b)
{
    while (*a != '\0' && *a != '=' && *a == *b) {
        a++;
        b++;
    }
    return (*a == '=' || *a == '\0') && (*b == '=' || *b == '\0');
}

int shim_env_build(const struct hproto_call *call, struct shim_env *out)
{
    size_t n_inherit = 0;
    while (environ != NULL && environ[n_inherit] != NULL)
        n_inherit++;
    char **env = calloc(n_inherit + call->n_headers + 2, sizeof *env);
    if (env == NULL)
        return -ENOMEM;
    size_t n = 0;
    /* Methods are short words; the bound keeps a hostile one from bloating env. */
    int len = (int)(call->method.len > 32 ? 32 : call->method.len);
    if (asprintf(&env[n], "REQUEST_METHOD=%.*s", len, len > 0 ? call->method.ptr : "") < 0)
        goto fail;
    n++;
    for (size_t i = 0; i < call->n_headers; i++) {
        if (!header_ok(call->headers[i].key))
            continue;
        if ((env[n] = header_var(&call->headers[i])) == NULL)
            goto fail;
        n++;
    }
    size_t n_own = n;
    /* The request's values win over inherited ones of the same name. */
    for (size_t i = 0; i < n_inherit; i++) {
        bool shadowed = false;
        for (size_t j = 0; j < n_own && !shadowed; j++)
            shadowed = same_name(environ[i], env[j]);
        if (!shadowed)
            env[n++] = environ[i];
    }
    env[n] = NULL;
    out->vars = env;
    out->n_own = n_own;
    return 0;
fail:
    for (size_t j = 0; j < n; j++)
        free(env[j]);
    free(env);
    return -ENOMEM;
}

void shim_env_free(struct shim_env *env)
{
    if (env->vars == NULL)
        return;
    for (size_t i = 0; i < env->n_own; i++)
        free(env->vars[i]);
    free(env->vars);
    env->vars = NULL;
}

/* Daemon settings from flags and environment variables (flags win). */
#ifndef TF_CONFIG_H
#define TF_CONFIG_H

#include <stddef.h>

struct config {
    int coap_port;      /* -1: off */
    int coaps_port;     /* CoAP over DTLS, when psk_file is set; -1: off */
    char psk_file[512]; /* DTLS identities and keys; empty: no DTLS */
    int http_port;      /* -1: off */
    int mgmt_port;      /* -1: off */
    char state_dir[512];
    char docker_host[512]; /* empty: $DOCKER_HOST or the default socket */
    char shim_path[512];
    char runtime_dir[512]; /* the runtimes/ folder with each runtime's recipe */
    char subnet_pool[64];  /* function networks are /25s of it; "none": Docker's pools */
    int build_images;      /* build every runtime image, then exit */
    int purge;             /* remove everything the instance made, then exit */
    int registry_images;   /* opt in: runtimes' registry base images */
    int call_timeout_ms;
    int build_timeout_s; /* a function build's compile or install */
    int ready_timeout_ms;
    size_t max_body;             /* invocation request bodies */
    size_t max_upload;           /* management request bodies */
    size_t coap_answer_bytes;    /* CoAP answers kept for duplicates and served block-wise */
    size_t handler_queue_bytes;  /* call bytes one handler connection holds unwritten; 0 unset */
    int handler_link_timeout_ms; /* a silent TCP link to a handler is lost after it; 0: kernel's */
    int debug;
    int no_auth;               /* the management API asks for no token */
    int no_metrics;            /* nothing recorded, no /metrics (to measure their cost) */
    int metrics_no_auth;       /* GET /metrics asks for no token */
    int live_restore;          /* shutdown leaves the handlers running, to adopt */
    char handler_transport[8]; /* "unix", "tcp", or "" to pick by the engine's address */
    char backend[8];           /* "docker", "swarm", or "auto": swarm on a swarm manager */
    char registry[200];        /* HOST:PORT images are pushed to for the swarm; "" none */
};

/* Fills cfg from defaults, then the environment, then argv. Returns 0, 1
 * when --help was printed, or -1 with a message on stderr. */
int config_load(struct config *cfg, int argc, char **argv);

#endif

/* The Prometheus text exposition (format 0.0.4) of the metrics registry
 * and of the process's own figures, rendered when scraped. */
#ifndef TF_METRICS_TEXT_H
#define TF_METRICS_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* The content type of metrics_text's answer. */
#define METRICS_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Every metric as text, malloc'd (the caller frees it), its length in *len;
 * NULL when out of memory. Any thread. */
char *metrics_text(size_t *len);

/* The standard process_* metrics of this process, from /proc/self. */
void metrics_proc_write(FILE *f);

#endif

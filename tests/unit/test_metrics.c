/* Unit test for core/metrics.c and core/metrics_text.c: what a recording
 * adds, under which labels, in which bucket; unknown codes and names past
 * the cap kept in their own slots; nothing recorded when off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_internal.h"
#include "metrics_text.h"

#include "check.h"

/* Whether the rendered text holds line (a whole line). */
static int has_line(const char *line)
{
    size_t len = 0;
    char *text = metrics_text(&len);
    char want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    int found = text != NULL && strstr(text, want) != NULL;
    free(text);
    return found;
}

#define HAS(line) CHECKF(has_line(line), "no line '%s'", line)

static void calls_and_codes(void)
{
    struct metrics_fn *fn = metrics_function("echo");
    CHECK(fn != NULL);
    CHECK(metrics_function("echo") == fn);
    for (int i = 0; i < 3; i++)
        metrics_call_done(fn, METRICS_HTTP, 200, metrics_start());
    metrics_call_done(fn, METRICS_HTTP, 418, metrics_start());
    metrics_call_done(fn, METRICS_HTTP, 70000, metrics_start());
    metrics_call_done(fn, METRICS_COAP, 205, metrics_start());
    metrics_call_done(fn, METRICS_COAPS, 404, metrics_start());
    metrics_call_done(metrics_unknown(), METRICS_COAP, 404, metrics_start());
    HAS("tinyfaas_calls_total{function=\"echo\",protocol=\"http\",code=\"200\"} 3");
    HAS("tinyfaas_calls_total{function=\"echo\",protocol=\"http\",code=\"other\"} 2");
    HAS("tinyfaas_calls_total{function=\"echo\",protocol=\"coap\",code=\"2.05\"} 1");
    HAS("tinyfaas_calls_total{function=\"echo\",protocol=\"coaps\",code=\"4.04\"} 1");
    HAS("tinyfaas_calls_total{function=\"_unknown\",protocol=\"coap\",code=\"4.04\"} 1");
    HAS("tinyfaas_call_duration_seconds_count{function=\"echo\",protocol=\"http\"} 5");
}

/* A start after now is no time at all; one at the clock's origin is past
 * every bound (the machine has been up longer than 30 s). */
static void buckets(void)
{
    struct metrics_fn *fn = metrics_function("timed");
    metrics_call_done(fn, METRICS_COAP, 205, UINT64_MAX);
    metrics_call_done(fn, METRICS_COAP, 205, 1);
    HAS("tinyfaas_call_duration_seconds_bucket{function=\"timed\",protocol=\"coap\",le=\"0.0001\"} "
        "1");
    HAS("tinyfaas_call_duration_seconds_bucket{function=\"timed\",protocol=\"coap\",le=\"30\"} 1");
    HAS("tinyfaas_call_duration_seconds_bucket{function=\"timed\",protocol=\"coap\",le=\"+Inf\"} "
        "2");
    HAS("tinyfaas_call_duration_seconds_count{function=\"timed\",protocol=\"coap\"} 2");
}

static void gauges_and_counters(void)
{
    struct metrics_fn *fn = metrics_function("echo");
    metrics_in_flight_add(fn, 1);
    metrics_queued_add(fn, 2);
    HAS("tinyfaas_calls_in_flight{function=\"echo\"} 1");
    HAS("tinyfaas_calls_queued{function=\"echo\"} 2");
    metrics_in_flight_add(fn, -1);
    metrics_queued_add(fn, -2);
    metrics_handlers_set(fn, 3);
    metrics_handler_restarts(fn, 2);
    HAS("tinyfaas_calls_in_flight{function=\"echo\"} 0");
    HAS("tinyfaas_function_handlers{function=\"echo\"} 3");
    HAS("tinyfaas_handler_restarts_total{function=\"echo\"} 2");
    metrics_deploy_done(fn, METRICS_DEPLOY_SUCCESS, metrics_start());
    metrics_deploy_done(metrics_unknown(), METRICS_DEPLOY_INVALID, metrics_start());
    HAS("tinyfaas_deploys_total{function=\"echo\",result=\"success\"} 1");
    HAS("tinyfaas_deploys_total{function=\"_unknown\",result=\"invalid\"} 1");
    HAS("tinyfaas_deploy_duration_seconds_count 2");
    metrics_limit_hit(METRICS_LIMIT_MAX_BODY);
    metrics_count(METRICS_COAP_DUPLICATES);
    metrics_gauge_add(METRICS_DTLS_SESSIONS, 2);
    metrics_gauge_add(METRICS_DTLS_SESSIONS, -1);
    HAS("tinyfaas_limit_hits_total{limit=\"max_body\"} 1");
    HAS("tinyfaas_limit_hits_total{limit=\"log_lines\"} 0");
    HAS("tinyfaas_coap_duplicates_total 1");
    HAS("tinyfaas_dtls_sessions 1");
}

/* Names past the cap share "_other"; none is lost. */
static void cap(void)
{
    char name[32];
    struct metrics_fn *last = NULL;
    for (int i = 0; i < METRICS_FUNCTIONS_MAX + 1; i++) {
        snprintf(name, sizeof name, "f%d", i);
        last = metrics_function(name);
    }
    metrics_call_done(last, METRICS_HTTP, 200, metrics_start());
    HAS("tinyfaas_calls_total{function=\"_other\",protocol=\"http\",code=\"200\"} 1");
    CHECK(metrics_function("echo") != last); /* the first ones keep their own */
}

static void off(void)
{
    metrics_init(false);
    CHECK(metrics_function("echo") == NULL);
    CHECK(metrics_unknown() == NULL);
    CHECK(metrics_start() == 0);
    metrics_limit_hit(METRICS_LIMIT_MAX_BODY);
    metrics_init(true);
    HAS("tinyfaas_limit_hits_total{limit=\"max_body\"} 1");
}

int main(void)
{
    metrics_init(true);
    HAS("# TYPE tinyfaas_calls_total counter");
    calls_and_codes();
    buckets();
    gauges_and_counters();
    cap();
    off();
    HAS("# TYPE process_open_fds gauge");
    return check_summary();
}

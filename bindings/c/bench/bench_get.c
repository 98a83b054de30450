/* bench_get N: N cached reads of the variable "bench" through libcronium, after a warm-up.
 * Environment: CRONIUM_RUNTIME_SOCKET, CRONIUM_EXECUTION_TOKEN (as a script gets them).
 * Prints one JSON line: {"client":"c","samples_ns":[...]} (one sample per call).
 * Built by `make c-bench` (release libcronium); used by the benchmarks (`make bench`). */
#include <cronium.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int die(const char *what) {
    char msg[512];
    cronium_last_error_message(msg, sizeof msg, NULL);
    fprintf(stderr, "bench_get: %s: %s\n", what, msg);
    return 1;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_get N\n");
        return 2;
    }
    cronium_client *client = NULL;
    if (cronium_client_new_from_env(&client) != CRONIUM_OK)
        return die("client");
    char *json = NULL;
    if (cronium_variable_get(client, "bench", &json, NULL) != CRONIUM_OK)
        return die("get");
    if (!json && cronium_variable_set(client, "bench", "1", 0, NULL) != CRONIUM_OK)
        return die("set");
    cronium_string_free(json);
    long warm = n / 10 < 100 ? 100 : n / 10;
    for (long i = 0; i < warm; i++) {
        if (cronium_variable_get(client, "bench", &json, NULL) != CRONIUM_OK)
            return die("warm-up");
        cronium_string_free(json);
    }
    long long *samples = malloc(sizeof *samples * (size_t)n);
    if (!samples)
        return 1;
    for (long i = 0; i < n; i++) {
        long long t0 = now_ns();
        cronium_result r = cronium_variable_get(client, "bench", &json, NULL);
        samples[i] = now_ns() - t0;
        if (r != CRONIUM_OK)
            return die("get");
        cronium_string_free(json);
    }
    printf("{\"client\":\"c\",\"samples_ns\":[");
    for (long i = 0; i < n; i++)
        printf(i ? ",%lld" : "%lld", samples[i]);
    printf("]}\n");
    free(samples);
    cronium_client_free(client);
    return 0;
}

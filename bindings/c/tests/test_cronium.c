/* libcronium against a real sidecar: what is specific to C (NULL arguments, ownership and
 * frees, small buffers, invalid UTF-8, threads and the per-thread last error, watches,
 * streams outliving their client, configuration), run under valgrind. Values, keys,
 * compare-and-set, conditions, the context and refused tokens are the conformance suite's
 * (tests/conformance, `make test-conformance`, where C runs every case it can express).
 *
 * Run by tests/run.sh, which starts `cronium serve`, creates the executions and sets:
 *   CRONIUM_RUNTIME_SOCKET, CRONIUM_EXECUTION_TOKEN  an execution with input {"name":"Ada","n":[1,2]}
 *                                                    and event "nightly"
 *   CRONIUM_TEST_TOKEN_STREAM                        an execution whose input stream is {"r":1} {"r":2}
 *   CRONIUM_TEST_TOKEN_RO                            an execution with scope input:read only
 * Prints one line per check and ends with "N passed, N failed"; exits 1 when any failed.
 */
#include <cronium.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *name, const char *detail) {
    if (ok) {
        passed++;
        printf("ok    %s\n", name);
    } else {
        failed++;
        printf("FAIL  %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    }
}

/* The thread's last error as "code: message" (static buffer). */
static const char *last(void) {
    static char out[1200];
    char code[128], msg[1024];
    cronium_last_error_code(code, sizeof code, NULL);
    cronium_last_error_message(msg, sizeof msg, NULL);
    snprintf(out, sizeof out, "%s: %s", code, msg);
    return out;
}

/* check that r == want, naming the result and the last error otherwise. */
static void check_rc(cronium_result r, cronium_result want, const char *name) {
    char detail[1400];
    snprintf(detail, sizeof detail, "got %s (%d), want %s; last error %s", cronium_result_name(r), (int)r,
             cronium_result_name(want), last());
    check(r == want, name, detail);
}

/* check that the last error's code is `code`. */
static void check_code(const char *code, const char *name) {
    char got[128];
    cronium_last_error_code(got, sizeof got, NULL);
    char detail[300];
    snprintf(detail, sizeof detail, "code %s, want %s", got, code);
    check(strcmp(got, code) == 0, name, detail);
}

static void check_contains(const char *text, const char *needle, const char *name) {
    char detail[600];
    snprintf(detail, sizeof detail, "[%s] not in [%.400s]", needle, text ? text : "(null)");
    check(text != NULL && strstr(text, needle) != NULL, name, detail);
}

static const char *need_env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run tests/run.sh\n", name);
        printf("0 passed, 1 failed\n");
        exit(1);
    }
    return v;
}

struct thread_arg {
    const cronium_client *client;
    int ok;
    cronium_result bad;
};

static void *reader(void *p) {
    struct thread_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 20; i++) {
        char *json = NULL;
        if (cronium_variable_get(a->client, "c_shared", &json, NULL) != CRONIUM_OK || !json || strcmp(json, "7") != 0)
            a->ok = 0;
        cronium_string_free(json);
    }
    /* A failure here must not change the main thread's last error. */
    a->bad = cronium_variable_get(a->client, "bad/key", &(char *){NULL}, NULL);
    return NULL;
}

int main(void) {
    const char *socket = need_env("CRONIUM_RUNTIME_SOCKET");
    const char *token = need_env("CRONIUM_EXECUTION_TOKEN");
    const char *token_stream = need_env("CRONIUM_TEST_TOKEN_STREAM");
    const char *token_ro = need_env("CRONIUM_TEST_TOKEN_RO");
    cronium_result r;
    cronium_client *nc = NULL;
    char *json = NULL;
    uint64_t version = 0;

    check(strcmp(cronium_version(), "0.1.0") == 0, "cronium_version is the crate version", cronium_version());
    check(strcmp(cronium_result_name(CRONIUM_NOT_FOUND), "not_found") == 0 &&
              strcmp(cronium_result_name(CRONIUM_BUFFER_TOO_SMALL), "buffer_too_small") == 0 &&
              strcmp(cronium_result_name(-7), "unknown") == 0,
          "cronium_result_name names every code, unknown otherwise", NULL);

    /* ---- error codes: every protocol code has its result (a kind, 1 to 11) -------- */
    {
        size_t n = cronium_error_code_count();
        int all_named = n >= 30, all_mapped = 1;
        for (size_t i = 0; i < n; i++) {
            const char *name = cronium_error_code_name(i);
            cronium_result kind = CRONIUM_OK;
            if (!name || cronium_error_code_result(name, &kind) != CRONIUM_OK) {
                all_named = 0;
                continue;
            }
            if (kind < CRONIUM_AUTH || kind > CRONIUM_INTERNAL) {
                fprintf(stderr, "  error code %s has no kind result (%d)\n", name, (int)kind);
                all_mapped = 0;
            }
        }
        check(all_named && cronium_error_code_name(n) == NULL,
              "cronium_error_code_name lists every code, NULL past the end", NULL);
        check(all_mapped, "every error code maps to a kind result", NULL);
        cronium_result kind = CRONIUM_OK;
        check(cronium_error_code_result("version_conflict", &kind) == CRONIUM_OK && kind == CRONIUM_CONFLICT &&
                  cronium_error_code_result("stream_closed", &kind) == CRONIUM_OK && kind == CRONIUM_PROTOCOL &&
                  cronium_error_code_result("no_such_code", &kind) == CRONIUM_OK && kind == CRONIUM_INTERNAL,
              "cronium_error_code_result gives the kind of a code", NULL);
        check_rc(cronium_error_code_result(NULL, &kind), CRONIUM_NULL_ARGUMENT, "a NULL code is refused");
    }

    /* ---- clients ---------------------------------------------------------------- */
    cronium_client *c = NULL;
    r = cronium_client_new_from_env(&c);
    check_rc(r, CRONIUM_OK, "client from the environment");
    check(c != NULL, "client from the environment is non-NULL", NULL);
    if (!c) {
        printf("%d passed, %d failed\n", passed, failed + 1);
        return 1;
    }
    cronium_client *explicit_client = NULL;
    r = cronium_client_new(socket, NULL, token, 5000, &explicit_client);
    check_rc(r, CRONIUM_OK, "client with an explicit socket and token");

    /* ---- input, output, context --------------------------------------------------- */
    r = cronium_input(explicit_client, &json);
    check_rc(r, CRONIUM_OK, "cronium_input on the explicit client");
    cronium_string_free(json);

    r = cronium_context(c, &json);
    check_rc(r, CRONIUM_OK, "cronium_context (the deprecated name) still works");
    check_contains(json, "nightly", "the deprecated name gives the same context");
    cronium_string_free(json);

    /* ---- token refresh ------------------------------------------------------------ */
    r = cronium_token_refresh(c);
    check_rc(r, CRONIUM_OK, "cronium_token_refresh");
    r = cronium_input(c, &json);
    check_rc(r, CRONIUM_OK, "calls go on after a refresh");
    cronium_string_free(json);
    check_rc(cronium_token_refresh(NULL), CRONIUM_NULL_ARGUMENT, "refresh on a NULL client");

    /* ---- variables ---------------------------------------------------------------- */
    cronium_variable_delete(c, "c_key", NULL);
    r = cronium_variable_get(c, "c_key", &json, &version);
    check_rc(r, CRONIUM_OK, "get of a missing variable is OK");
    check(json == NULL && version == 0, "a missing variable gives NULL and version 0", NULL);

    r = cronium_variable_get(c, "c_key", NULL, NULL);
    check_rc(r, CRONIUM_NULL_ARGUMENT, "get with a NULL out_json");

    /* ---- watch -------------------------------------------------------------------- */
    cronium_variable_delete(c, "c_watch", NULL);
    cronium_variable_watch *w = NULL;
    r = cronium_variable_watch_open(c, "c_watch", &w);
    check_rc(r, CRONIUM_OK, "cronium_variable_watch_open");
    check(w != NULL, "the watch is non-NULL", NULL);
    json = (char *)1;
    r = cronium_variable_watch_next(w, 200, &json);
    check_rc(r, CRONIUM_OK, "next with no change within the timeout is OK");
    check(json == NULL, "no change in time gives NULL", NULL);
    cronium_variable_set(c, "c_watch", "{\"n\":18446744073709551616}", 0, &version);
    r = cronium_variable_watch_next(w, 10000, &json);
    check_rc(r, CRONIUM_OK, "next after a write");
    check_contains(json, "\"value\":{\"n\":18446744073709551616}", "the change carries the exact value");
    check_contains(json, "\"deleted\":false", "a write is not a delete");
    char want_version[64];
    snprintf(want_version, sizeof want_version, "\"version\":%llu", (unsigned long long)version);
    check_contains(json, want_version, "the change carries the new version");
    cronium_string_free(json);
    cronium_variable_delete(c, "c_watch", NULL);
    r = cronium_variable_watch_next(w, 10000, &json);
    check_rc(r, CRONIUM_OK, "next after a delete");
    check_contains(json, "\"deleted\":true", "a delete is reported as one");
    check_contains(json, "\"value\":null", "a delete has a null value");
    cronium_string_free(json);
    r = cronium_variable_watch_next(w, 0, &json);
    check_rc(r, CRONIUM_OK, "next with timeout 0 returns at once");
    check(json == NULL, "nothing new with timeout 0", NULL);
    check_rc(cronium_variable_watch_next(w, 10, NULL), CRONIUM_NULL_ARGUMENT, "next with a NULL out_json");
    cronium_variable_watch_close(w);
    check_rc(cronium_variable_watch_next(NULL, 10, &json), CRONIUM_NULL_ARGUMENT, "next on a NULL watch");
    check_rc(cronium_variable_watch_open(c, NULL, &w), CRONIUM_NULL_ARGUMENT, "watch of a NULL key");
    check_rc(cronium_variable_watch_open(c, "bad/key", &w), CRONIUM_VALIDATION, "watch of a bad key");
    check(w == NULL, "a failed open leaves the watch NULL", NULL);
    check_rc(cronium_variable_watch_open(c, "k", NULL), CRONIUM_NULL_ARGUMENT, "watch with a NULL out");
    cronium_variable_watch_close(NULL);

    /* ---- condition ---------------------------------------------------------------- */
    r = cronium_condition_get(c, NULL, NULL);
    check_rc(r, CRONIUM_OK, "condition_get with NULL outs is allowed");

    /* ---- tool actions ------------------------------------------------------------- */
    r = cronium_tool_action_execute(c, "slack", "send-message", "{\"channel\":\"#a\",\"text\":\"hi\"}", "c-test-1", &json);
    check_rc(r, CRONIUM_TOOL_ACTION, "a tool action without credentials is refused");
    check(json == NULL, "a refused tool action leaves out_json NULL", NULL);
    r = cronium_tool_action_execute(c, "slack", "send-message", NULL, NULL, &json);
    check_rc(r, CRONIUM_TOOL_ACTION, "a tool action with NULL params is sent as {}");
    r = cronium_tool_action_execute(c, "slack", NULL, "{}", NULL, &json);
    check_rc(r, CRONIUM_NULL_ARGUMENT, "a tool action with a NULL action");
    r = cronium_tool_action_execute(c, "slack", "send-message", "{nope", NULL, &json);
    check_rc(r, CRONIUM_INVALID_JSON, "a tool action with invalid JSON params");
    r = cronium_tools_list(c, &json);
    check_rc(r, CRONIUM_OK, "tools_list");
    check(json != NULL && strcmp(json, "[]") == 0, "a user without credentials has no tools", json);
    cronium_string_free(json);
    json = NULL;
    check_rc(cronium_tools_list(c, NULL), CRONIUM_NULL_ARGUMENT, "tools_list with a NULL out");

    /* ---- streams ------------------------------------------------------------------ */
    cronium_output_stream *out = NULL;
    r = cronium_output_stream_open(c, &out);
    check_rc(r, CRONIUM_OK, "cronium_output_stream_open");
    check_rc(cronium_output_stream_write(out, "{\"i\":1}"), CRONIUM_OK, "cronium_output_stream_write");
    check_rc(cronium_output_stream_write(out, "[2, 3]"), CRONIUM_OK, "a second record");
    check_rc(cronium_output_stream_write(out, "{\"i\":"), CRONIUM_INVALID_JSON, "a record of invalid JSON");
    check_rc(cronium_output_stream_write(NULL, "1"), CRONIUM_NULL_ARGUMENT, "write to a NULL stream");
    uint64_t records = 0, bytes = 0;
    r = cronium_output_stream_close(out, &records, &bytes);
    check_rc(r, CRONIUM_OK, "cronium_output_stream_close");
    check(records == 2 && bytes > 0, "close counts the records the server stored", NULL);
    check_rc(cronium_output_stream_close(NULL, NULL, NULL), CRONIUM_NULL_ARGUMENT, "close of a NULL stream");

    out = NULL;
    r = cronium_output_stream_open(c, &out);
    check_rc(r, CRONIUM_OK, "a second output stream");
    cronium_output_stream_write(out, "{\"dropped\":true}");
    cronium_output_stream_free(out); /* abandoned: must not leak */
    check(1, "an output stream freed without close", NULL);

    cronium_client *sc = NULL;
    r = cronium_client_new(socket, NULL, token_stream, 0, &sc);
    check_rc(r, CRONIUM_OK, "client of the streaming execution");
    cronium_input_stream *in = NULL;
    r = cronium_input_stream_open(sc, &in);
    check_rc(r, CRONIUM_OK, "cronium_input_stream_open");
    cronium_client_free(sc); /* the stream outlives its client */
    char *rec1 = NULL, *rec2 = NULL, *rec3 = (char *)1;
    check_rc(cronium_input_stream_next(in, &rec1), CRONIUM_OK, "cronium_input_stream_next");
    check_rc(cronium_input_stream_next(in, &rec2), CRONIUM_OK, "a second record");
    check_rc(cronium_input_stream_next(in, &rec3), CRONIUM_OK, "the end of the stream");
    check(rec1 && strcmp(rec1, "{\"r\":1}") == 0 && rec2 && strcmp(rec2, "{\"r\":2}") == 0,
          "the records in order", rec1);
    check(rec3 == NULL, "the end is a NULL record", NULL);
    cronium_string_free(rec1);
    cronium_string_free(rec2);
    check_rc(cronium_input_stream_next(NULL, &rec1), CRONIUM_NULL_ARGUMENT, "next on a NULL stream");
    cronium_input_stream_free(in);

    in = NULL;
    r = cronium_input_stream_open(c, &in);
    check_rc(r, CRONIUM_OK, "an input stream freed before its end");
    cronium_input_stream_free(in);

    /* ---- threads ------------------------------------------------------------------ */
    cronium_variable_set(c, "c_shared", "7", 0, NULL);
    cronium_variable_set(c, "bad/key", "1", 0, NULL); /* main's last error: invalid_key */
    cronium_output_set(c, "{oops");                     /* now invalid_json */
    pthread_t threads[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.client = c};
        pthread_create(&threads[i], NULL, reader, &args[i]);
    }
    int all_ok = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        all_ok = all_ok && args[i].ok && args[i].bad == CRONIUM_VALIDATION;
    }
    check(all_ok, "four threads share one client", NULL);
    check_code("invalid_json", "the last error is per thread");

    /* ---- bad input ---------------------------------------------------------------- */
    check_rc(cronium_input(NULL, &json), CRONIUM_NULL_ARGUMENT, "NULL client");
    check_code("null_argument", "a NULL argument names null_argument");
    check_rc(cronium_input(c, NULL), CRONIUM_NULL_ARGUMENT, "NULL out_json");
    check_rc(cronium_output_set(c, NULL), CRONIUM_NULL_ARGUMENT, "NULL json");
    check_rc(cronium_output_get(NULL, &json), CRONIUM_NULL_ARGUMENT, "output_get on a NULL client");
    check_rc(cronium_context_get(c, NULL), CRONIUM_NULL_ARGUMENT, "context with a NULL out");
    check_rc(cronium_variable_list(NULL, &json), CRONIUM_NULL_ARGUMENT, "list on a NULL client");
    check_rc(cronium_variable_delete(c, NULL, NULL), CRONIUM_NULL_ARGUMENT, "delete of a NULL key");
    check_rc(cronium_condition_set(NULL, true), CRONIUM_NULL_ARGUMENT, "condition_set on a NULL client");
    check_rc(cronium_client_new_from_env(NULL), CRONIUM_NULL_ARGUMENT, "client_new_from_env with a NULL out");
    check_rc(cronium_input_stream_open(c, NULL), CRONIUM_NULL_ARGUMENT, "input_stream_open with a NULL out");
    check_rc(cronium_output_stream_open(NULL, &out), CRONIUM_NULL_ARGUMENT, "output_stream_open on a NULL client");

    check_rc(cronium_variable_get(c, "\xff\xfe", &json, NULL), CRONIUM_INVALID_UTF8, "a key of invalid UTF-8");
    check_code("invalid_utf8", "invalid UTF-8 names invalid_utf8");
    check_rc(cronium_output_set(c, "\"\xc3\x28\""), CRONIUM_INVALID_UTF8, "JSON of invalid UTF-8");
    check_rc(cronium_client_new(socket, NULL, "tok\xff", 0, &nc), CRONIUM_INVALID_UTF8,
             "a token of invalid UTF-8");
    check_rc(cronium_output_set(c, "{\"a\":}"), CRONIUM_INVALID_JSON, "output of invalid JSON");
    check_code("invalid_json", "invalid JSON names invalid_json");
    check_rc(cronium_variable_set(c, "k", "1 2", 0, NULL), CRONIUM_INVALID_JSON, "a variable of trailing garbage");
    check_rc(cronium_variable_set(c, "k", "", 0, NULL), CRONIUM_INVALID_JSON, "a variable of empty text");

    /* The last error into small buffers. */
    cronium_output_set(c, "{\"a\":}");
    size_t need = 0;
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    r = cronium_last_error_message(tiny, sizeof tiny, &need);
    check_rc(r, CRONIUM_BUFFER_TOO_SMALL, "a message into a small buffer");
    check(tiny[7] == '\0' && strlen(tiny) == 7, "the truncated message is NUL-terminated", tiny);
    check(need > sizeof tiny, "the needed size is reported", NULL);
    r = cronium_last_error_message(NULL, 0, &need);
    check_rc(r, CRONIUM_BUFFER_TOO_SMALL, "a size query with a NULL buffer");
    char *big = malloc(need);
    r = cronium_last_error_message(big, need, NULL);
    check_rc(r, CRONIUM_OK, "the message into a buffer of the reported size");
    check_contains(big, "not valid JSON", "the message explains");
    free(big);
    check_rc(cronium_last_error_message(NULL, 5, NULL), CRONIUM_NULL_ARGUMENT, "a NULL buffer with a length");
    char code[4];
    check_rc(cronium_last_error_code(code, sizeof code, &need), CRONIUM_BUFFER_TOO_SMALL, "a code into a small buffer");
    check(need == strlen("invalid_json") + 1, "the code's needed size", NULL);

    /* Configuration and transport failures. */
    nc = NULL;
    check_rc(cronium_client_new(NULL, NULL, token, 0, &nc), CRONIUM_NULL_ARGUMENT, "neither socket nor URL");
    check_rc(cronium_client_new(socket, NULL, NULL, 0, &nc), CRONIUM_NULL_ARGUMENT, "no token");
    check_rc(cronium_client_new(NULL, "ftp://x", token, 0, &nc), CRONIUM_CONFIG, "a URL that is not http");
    check(nc == NULL, "a failed create leaves the client NULL", NULL);

    r = cronium_client_new("/nonexistent/cronium.sock", NULL, token, 2000, &nc);
    check_rc(r, CRONIUM_OK, "a client of a missing socket is created (connects lazily)");
    r = cronium_variable_get(nc, "k", &json, NULL);
    check(r == CRONIUM_UNAVAILABLE || r == CRONIUM_TIMEOUT, "a missing socket is unavailable", last());
    check_contains(last(), "connection", "a missing socket names the connection failure");
    cronium_client_free(nc);

    nc = NULL;
    check_rc(cronium_client_new(socket, NULL, "not-a-token", 0, &nc), CRONIUM_OK, "a client with a bad token");
    check_rc(cronium_token_refresh(nc), CRONIUM_AUTH, "a bad token cannot be refreshed");
    cronium_client_free(nc);

    nc = NULL;
    check_rc(cronium_client_new(socket, NULL, token_ro, 0, &nc), CRONIUM_OK, "a read-only client");
    cronium_variable_watch *rw = NULL;
    check_rc(cronium_variable_watch_open(nc, "k", &rw), CRONIUM_AUTH, "a watch outside the scope");
    check(rw == NULL, "a refused watch leaves the handle NULL", NULL);
    cronium_client_free(nc);

    char *saved = strdup(token);
    unsetenv("CRONIUM_EXECUTION_TOKEN");
    nc = NULL;
    r = cronium_client_new_from_env(&nc);
    check_rc(r, CRONIUM_CONFIG, "from_env without a token");
    check(nc == NULL, "no client without a token", NULL);
    setenv("CRONIUM_EXECUTION_TOKEN", saved, 1);
    free(saved);

    /* Frees of NULL are no-ops. */
    cronium_client_free(NULL);
    cronium_string_free(NULL);
    cronium_input_stream_free(NULL);
    cronium_output_stream_free(NULL);
    check(1, "frees of NULL are no-ops", NULL);

    cronium_client_free(explicit_client);
    cronium_client_free(c);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

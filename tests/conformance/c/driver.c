/*
 * The C interpreter of the conformance suite: one libcronium call per stdin line.
 *
 *   in:  OP<TAB>ARG<TAB>...          (JSON arguments as compact JSON text)
 *   out: ok<TAB>JSON | missing | err<TAB>KIND<TAB>CODE
 *
 * tests/conformance/drive.py reads the cases, starts the test kit and compares; this
 * program only makes the calls, so what is checked is what libcronium returns. The first
 * line is "client<TAB>SOCKET<TAB>TOKEN" (again for every case: a new execution).
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cronium.h>

#define MAX_FIELDS 64

static cronium_client *client;

/* Prints the failure of the last call: its kind (the result's name) and its code. */
static void fail(cronium_result rc) {
  char code[256];
  if (cronium_last_error_code(code, sizeof code, NULL) != CRONIUM_OK || code[0] == '\0') {
    snprintf(code, sizeof code, "%s", cronium_result_name(rc));
  }
  printf("err\t%s\t%s\n", cronium_result_name(rc), code);
}

/* ok<TAB>JSON, then frees the library's string. */
static void ok_json(char *json) {
  printf("ok\t%s\n", json);
  cronium_string_free(json);
}

static void run(char **f, int n) {
  const char *op = f[0];
  cronium_result rc;
  char *json = NULL;
  if (strcmp(op, "client") == 0 && n == 3) {
    cronium_client_free(client);
    client = NULL;
    rc = cronium_client_new(f[1], NULL, f[2], 0, &client);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\tnull\n");
  } else if (strcmp(op, "input") == 0) {
    rc = cronium_input(client, &json);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    ok_json(json);
  } else if (strcmp(op, "output") == 0 && n == 2) {
    rc = cronium_output_set(client, f[1]);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\tnull\n");
  } else if (strcmp(op, "get_output") == 0) {
    rc = cronium_output_get(client, &json);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    ok_json(json);
  } else if (strcmp(op, "get_variable") == 0 && n == 2) {
    rc = cronium_variable_get(client, f[1], &json, NULL);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    if (json == NULL) { printf("missing\n"); return; }
    ok_json(json);
  } else if (strcmp(op, "get_variable_info") == 0 && n == 2) {
    uint64_t version = 0;
    rc = cronium_variable_get(client, f[1], &json, &version);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    if (json == NULL) { printf("ok\tnull\n"); return; }
    printf("ok\t{\"value\":%s,\"version\":%" PRIu64 "}\n", json, version);
    cronium_string_free(json);
  } else if (strcmp(op, "set_variable") == 0 && n == 4) {
    uint64_t version = 0;
    rc = cronium_variable_set(client, f[1], f[2], strtoull(f[3], NULL, 10), &version);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\t%" PRIu64 "\n", version);
  } else if (strcmp(op, "delete_variable") == 0 && n == 2) {
    bool deleted = false;
    rc = cronium_variable_delete(client, f[1], &deleted);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\t%s\n", deleted ? "true" : "false");
  } else if (strcmp(op, "list_variables") == 0) {
    rc = cronium_variable_list(client, &json);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    ok_json(json);
  } else if (strcmp(op, "set_condition") == 0 && n == 2) {
    rc = cronium_condition_set(client, strcmp(f[1], "true") == 0);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\tnull\n");
  } else if (strcmp(op, "get_condition") == 0) {
    bool value = false, set = false;
    rc = cronium_condition_get(client, &value, &set);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\t%s\n", !set ? "null" : value ? "true" : "false");
  } else if (strcmp(op, "context") == 0) {
    rc = cronium_context_get(client, &json);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    ok_json(json);
  } else if (strcmp(op, "stream_input") == 0) {
    cronium_input_stream *s = NULL;
    rc = cronium_input_stream_open(client, &s);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    /* Records are printed as they come, joined into one JSON array. */
    char *out = NULL;
    size_t len = 0;
    FILE *buf = open_memstream(&out, &len);
    if (buf == NULL) { cronium_input_stream_free(s); printf("err\tinternal\tout_of_memory\n"); return; }
    fputc('[', buf);
    bool first = true;
    for (;;) {
      rc = cronium_input_stream_next(s, &json);
      if (rc != CRONIUM_OK || json == NULL) break;
      fprintf(buf, "%s%s", first ? "" : ",", json);
      first = false;
      cronium_string_free(json);
    }
    fputc(']', buf);
    fclose(buf);
    cronium_input_stream_free(s);
    if (rc != CRONIUM_OK) fail(rc); else printf("ok\t%s\n", out);
    free(out);
  } else if (strcmp(op, "stream_output") == 0) {
    cronium_output_stream *s = NULL;
    rc = cronium_output_stream_open(client, &s);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    for (int i = 1; i < n; i++) {
      rc = cronium_output_stream_write(s, f[i]);
      if (rc != CRONIUM_OK) { cronium_output_stream_free(s); fail(rc); return; }
    }
    uint64_t records = 0, bytes = 0;
    rc = cronium_output_stream_close(s, &records, &bytes);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    printf("ok\t{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n", records, bytes);
  } else if (strcmp(op, "execute_tool_action") == 0 && n == 4) {
    rc = cronium_tool_action_execute(client, f[1], f[2], f[3], NULL, &json);
    if (rc != CRONIUM_OK) { fail(rc); return; }
    ok_json(json);
  } else {
    printf("unsupported\t%s with %d arguments\n", op, n - 1);
  }
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    if (line[len - 1] == '\n') line[len - 1] = '\0';
    char *fields[MAX_FIELDS];
    int n = 0;
    char *rest = line, *field;
    while (n < MAX_FIELDS && (field = strsep(&rest, "\t")) != NULL) fields[n++] = field;
    run(fields, n);
    fflush(stdout);
  }
  free(line);
  cronium_client_free(client);
  return 0;
}

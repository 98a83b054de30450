/* docs/c.md, "A program", and the README's C example (the region "core"). tests/docs/run.sh
 * compiles it with the command of tests/docs/c/build.sh and runs it under `cronium run`. */
/* START basics */
#include <cronium.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    cronium_client *c = NULL;
    char *json = NULL, *msg = NULL;
    size_t need = 0;
    uint64_t version = 0;
    if (cronium_client_new_from_env(&c) != CRONIUM_OK) goto fail;      /* or cronium_client_new(socket, url, token, timeout_ms, &c) */
    /* START core */
    if (cronium_input(c, &json) != CRONIUM_OK) goto fail;
    printf("input: %s\n", json);
    cronium_string_free(json);                                           /* every returned string */
    if (cronium_variable_get(c, "runs", &json, &version) != CRONIUM_OK) goto fail;   /* json NULL when unset */
    cronium_string_free(json);
    if (cronium_variable_set(c, "runs", "1", 0, &version) != CRONIUM_OK) goto fail;  /* if_version > 0: compare-and-set */
    if (cronium_output_set(c, "{\"ok\":true}") != CRONIUM_OK) goto fail;
    /* END core */
    cronium_client_free(c);
    return 0;
fail:
    cronium_last_error_message(NULL, 0, &need);                          /* the size it needs, NUL included */
    if ((msg = malloc(need)) && cronium_last_error_message(msg, need, NULL) == CRONIUM_OK)
        fprintf(stderr, "cronium: %s\n", msg);                          /* cronium_last_error_code: "variable_not_found"... */
    free(msg);
    cronium_client_free(c);
    return 1;
}
/* END basics */

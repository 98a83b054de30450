/* docs/bindings.md, "C: watching a variable". tests/docs/run.sh compiles it against the
 * library installed by tests/docs/c/build.sh and runs it under `cronium run`: a second
 * thread changes "runs" twice once the watch is open, and the region prints both changes.
 * A watch that never reports them fails by the run's timeout. */
#include <cronium.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

/* The changes the watch reports; the client is thread-safe, so it is shared. */
static void *writer(void *client) {
    usleep(300 * 1000); /* after the watch is open: it reports changes from then on */
    cronium_variable_set(client, "runs", "1", 0, NULL);
    cronium_variable_set(client, "runs", "2", 0, NULL);
    return NULL;
}

int main(void) {
    cronium_client *client = NULL;
    pthread_t thread;
    if (cronium_client_new_from_env(&client) != CRONIUM_OK) return 1;
    pthread_create(&thread, NULL, writer, client);
    /* START watch */
    cronium_variable_watch *w = NULL;
    if (cronium_variable_watch_open(client, "runs", &w) == CRONIUM_OK) {
        for (int seen = 0; seen < 2;) {          /* the next two changes */
            char *change = NULL;                 /* {"key","value","version","updatedAt","deleted"} */
            if (cronium_variable_watch_next(w, 1000, &change) != CRONIUM_OK) break;  /* ended */
            if (change == NULL) continue;        /* nothing within 1 s: the watch stays open */
            puts(change);
            cronium_string_free(change);
            seen++;
        }
        cronium_variable_watch_close(w);         /* ends the watch and frees it */
    }
    /* END watch */
    pthread_join(thread, NULL);
    int ok = cronium_output_set(client, "{\"watched\":true}") == CRONIUM_OK;
    cronium_client_free(client);
    return ok ? 0 : 1;
}

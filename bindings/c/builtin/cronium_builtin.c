/* cronium_builtin.so: a Bash loadable builtin `cronium_native` over libcronium, so a script
 * calls its sidecar with no fork and no exec (the curl helpers cost a process per call).
 * It is not named `cronium`: a builtin of that name would shadow the `cronium` command
 * line tool in every shell that loads it (issue 18, item 8).
 *
 *   enable -f /path/to/cronium_builtin.so cronium_native
 *   cronium_native [-v NAME] SUBCOMMAND [ARGS...]
 *
 *   input                      the execution's input (JSON)
 *   output [JSON]              set the output (JSON from stdin without an argument)
 *   get-variable KEY [DEFAULT] the variable's JSON value; DEFAULT (or null) when absent
 *   set-variable KEY JSON      write a variable
 *   delete-variable KEY        remove a variable (a missing one is no error)
 *   list-variables             the keys, one a line
 *   set-condition true|false   set the condition
 *   get-condition              true, false, or null when unset
 *   event                      the event context (JSON)
 *   execute-tool-action TOOL ACTION PARAMS_JSON
 *   stream-input               the input stream, one NDJSON record a line
 *   stream-output              append the NDJSON records read from stdin
 *
 * -v NAME assigns the answer (without the trailing newline) to the shell variable NAME
 * instead of printing it, like printf -v. The environment is the helpers' (cronium.sh):
 * CRONIUM_RUNTIME_SOCKET, CRONIUM_RUNTIME_API, CRONIUM_EXECUTION_TOKEN and
 * CRONIUM_EXECUTION_TOKEN_FILE, read from the shell's variables on every call; the client
 * (and its connection) is kept between calls while they do not change.
 *
 * Status 0 on success, 1 on failure with one line on stderr
 * `cronium_<subcommand>: CODE: MESSAGE` (the same line the curl helpers print), 2 on
 * bad usage.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtins.h"
#include "shell.h"
#include "bashgetopt.h"
#include "common.h"

#include <cronium.h>

/* The cached client and what it was made from. */
static cronium_client *client;
static char *client_endpoint; /* "unix:PATH" or the URL */
static char *client_token;
static pid_t client_pid;

/* The function name in error lines: cronium_ + the subcommand with - as _. */
static char fname[64];

static int fail(const char *code, const char *message) {
    fprintf(stderr, "%s: %s: %s\n", fname, code, message);
    fflush(stderr);
    return EXECUTION_FAILURE;
}

/* The last libcronium error as the helpers' line. */
static int fail_last(void) {
    char code[128], msg[1024];
    cronium_last_error_code(code, sizeof code, NULL);
    cronium_last_error_message(msg, sizeof msg, NULL);
    /* The curl helpers call a refused connection runtime_unreachable. */
    if (strcmp(code, "connection_failed") == 0)
        snprintf(code, sizeof code, "runtime_unreachable");
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return fail(code, msg);
}

static const char *shell_var(const char *name) {
    char *v = get_string_value(name);
    return v ? v : "";
}

static int is_socket(const char *path) {
    struct stat st;
    return *path && stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Picks the endpoint and token as _cronium_setup does, and (re)makes the client. */
static int setup(void) {
    char token[8192];
    snprintf(token, sizeof token, "%s", shell_var("CRONIUM_EXECUTION_TOKEN"));
    const char *token_file = shell_var("CRONIUM_EXECUTION_TOKEN_FILE");
    if (*token_file) {
        int fd = open(token_file, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, token, sizeof token - 1);
            close(fd);
            if (n >= 0) {
                token[n] = '\0';
                token[strcspn(token, "\r\n")] = '\0';
            }
        }
    }
    if (!*token)
        return fail("token_missing", "CRONIUM_EXECUTION_TOKEN is not set; run the script with 'cronium run'");

    const char *socket = shell_var("CRONIUM_RUNTIME_SOCKET");
    const char *api = shell_var("CRONIUM_RUNTIME_API");
    char endpoint[4200];
    if (is_socket(socket))
        snprintf(endpoint, sizeof endpoint, "unix:%s", socket);
    else if (*api)
        snprintf(endpoint, sizeof endpoint, "%s", api);
    else if (!*socket && is_socket("/run/cronium/runtime.sock"))
        snprintf(endpoint, sizeof endpoint, "unix:/run/cronium/runtime.sock");
    else {
        char msg[4300];
        snprintf(msg, sizeof msg, "no socket at %s and CRONIUM_RUNTIME_API is not set",
                 *socket ? socket : "/run/cronium/runtime.sock");
        return fail("runtime_unreachable", msg);
    }

    if (client && client_pid == getpid() && strcmp(endpoint, client_endpoint) == 0 &&
        strcmp(token, client_token) == 0)
        return EXECUTION_SUCCESS;
    /* In a forked subshell the parent's client (its connections, any runtime thread) is
     * not ours to use or free: leave it, make a new one. */
    if (client && client_pid == getpid())
        cronium_client_free(client);
    free(client_endpoint);
    free(client_token);
    client = NULL;
    client_endpoint = NULL;
    client_token = NULL;

    cronium_client *c = NULL;
    cronium_result r;
    if (strncmp(endpoint, "unix:", 5) == 0)
        r = cronium_client_new(endpoint + 5, NULL, token, 0, &c);
    else
        r = cronium_client_new(NULL, endpoint, token, 0, &c);
    if (r != CRONIUM_OK)
        return fail_last();
    client = c;
    client_endpoint = strdup(endpoint);
    client_token = strdup(token);
    client_pid = getpid();
    return EXECUTION_SUCCESS;
}

/* Prints `text` plus a newline, or assigns it to the -v variable. */
static int answer(const char *var, const char *text) {
    if (var) {
        if (bind_variable(var, (char *)text, 0) == NULL)
            return fail("invalid_argument", "cannot assign the -v variable");
        return EXECUTION_SUCCESS;
    }
    fputs(text, stdout);
    putchar('\n');
    fflush(stdout);
    return ferror(stdout) ? fail("write_failed", strerror(errno)) : EXECUTION_SUCCESS;
}

/* An answer that is a libcronium string (freed here). */
static int answer_owned(const char *var, cronium_result r, char *json) {
    if (r != CRONIUM_OK)
        return fail_last();
    int status = answer(var, json ? json : "null");
    cronium_string_free(json);
    return status;
}

static int valid_key(const char *key) {
    size_t n = strlen(key);
    if (n == 0 || n > 256)
        return 0;
    return strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

static int bad_key(const char *key) {
    char msg[400];
    snprintf(msg, sizeof msg, "a variable key is 1 to 256 characters of A-Z a-z 0-9 _ . : - (got '%.256s')", key);
    return fail("invalid_key", msg);
}

/* Reads all of stdin into a malloc'd string (NULL on failure). */
static char *read_stdin(void) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            return NULL;
        if (len + 1 >= cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
        }
        ssize_t n = read(0, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

static int blank(const char *s) {
    return s[strspn(s, " \t\r\n")] == '\0';
}

static int stream_output(void) {
    cronium_output_stream *out = NULL;
    if (cronium_output_stream_open(client, &out) != CRONIUM_OK)
        return fail_last();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *in = fdopen(dup(0), "r");
    if (!in) {
        cronium_output_stream_free(out);
        return fail("read_failed", strerror(errno));
    }
    while ((n = getline(&line, &cap, in)) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        if (blank(line))
            continue;
        cronium_result r = cronium_output_stream_write(out, line);
        if (r != CRONIUM_OK) {
            free(line);
            fclose(in);
            cronium_output_stream_free(out);
            /* The server names a bad record invalid_ndjson; say the same before sending it. */
            if (r == CRONIUM_INVALID_JSON)
                return fail("invalid_ndjson", "a line of stdin is not one JSON value");
            return fail_last();
        }
    }
    free(line);
    fclose(in);
    if (cronium_output_stream_close(out, NULL, NULL) != CRONIUM_OK)
        return fail_last();
    return EXECUTION_SUCCESS;
}

static int stream_input(void) {
    cronium_input_stream *in = NULL;
    if (cronium_input_stream_open(client, &in) != CRONIUM_OK)
        return fail_last();
    for (;;) {
        char *record = NULL;
        if (cronium_input_stream_next(in, &record) != CRONIUM_OK) {
            cronium_input_stream_free(in);
            return fail_last();
        }
        if (!record)
            break;
        fputs(record, stdout);
        putchar('\n');
        cronium_string_free(record);
    }
    fflush(stdout);
    cronium_input_stream_free(in);
    return EXECUTION_SUCCESS;
}

/* Joins a JSON array of strings into lines (keys never hold quotes or backslashes). */
static char *lines_of(const char *json) {
    char *out = malloc(strlen(json) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = json; *p; p++) {
        if (*p == '"' || *p == '[' || *p == ']')
            continue;
        *o++ = *p == ',' ? '\n' : *p;
    }
    *o = '\0';
    return out;
}

static int cronium_builtin(WORD_LIST *list) {
    char *var = NULL;
    int opt;
    snprintf(fname, sizeof fname, "cronium_native");
    reset_internal_getopt();
    while ((opt = internal_getopt(list, "v:")) != -1) {
        switch (opt) {
        case 'v':
            var = list_optarg;
            if (!legal_identifier(var)) {
                sh_invalidid(var);
                return EX_USAGE;
            }
            break;
        CASE_HELPOPT;
        default:
            builtin_usage();
            return EX_USAGE;
        }
    }
    list = loptend;
    if (!list) {
        builtin_usage();
        return EX_USAGE;
    }
    const char *cmd = list->word->word;
    char *args[4] = {0};
    int argc = 0;
    for (WORD_LIST *l = list->next; l; l = l->next) {
        if (argc < 4)
            args[argc] = l->word->word;
        argc++;
    }
    snprintf(fname, sizeof fname, "cronium_%s", cmd);
    for (char *p = fname; *p; p++)
        if (*p == '-')
            *p = '_';

    char *json = NULL;
    cronium_result r;
    if (strcmp(cmd, "input") == 0) {
        if (setup())
            return EXECUTION_FAILURE;
        r = cronium_input(client, &json);
        return answer_owned(var, r, json);
    }
    if (strcmp(cmd, "event") == 0) {
        if (setup())
            return EXECUTION_FAILURE;
        r = cronium_context_get(client, &json);
        return answer_owned(var, r, json);
    }
    if (strcmp(cmd, "output") == 0) {
        char *stdin_value = argc == 0 ? read_stdin() : NULL;
        const char *value = argc ? args[0] : stdin_value;
        if (!value || blank(value)) {
            free(stdin_value);
            return fail("invalid_argument", "give a JSON value, as argument or on stdin");
        }
        int status = setup();
        if (status == EXECUTION_SUCCESS && cronium_output_set(client, value) != CRONIUM_OK)
            status = fail_last();
        free(stdin_value);
        return status;
    }
    if (strcmp(cmd, "get-variable") == 0) {
        if (argc < 1 || !valid_key(args[0]))
            return bad_key(argc ? args[0] : "");
        if (setup())
            return EXECUTION_FAILURE;
        r = cronium_variable_get(client, args[0], &json, NULL);
        if (r == CRONIUM_OK && !json)
            return answer(var, argc > 1 ? args[1] : "null");
        return answer_owned(var, r, json);
    }
    if (strcmp(cmd, "set-variable") == 0) {
        if (argc < 1 || !valid_key(args[0]))
            return bad_key(argc ? args[0] : "");
        if (argc < 2 || blank(args[1]))
            return fail("invalid_argument", "usage: cronium_set_variable KEY JSON");
        if (setup())
            return EXECUTION_FAILURE;
        return cronium_variable_set(client, args[0], args[1], 0, NULL) == CRONIUM_OK ? EXECUTION_SUCCESS
                                                                                     : fail_last();
    }
    if (strcmp(cmd, "delete-variable") == 0) {
        if (argc < 1 || !valid_key(args[0]))
            return bad_key(argc ? args[0] : "");
        if (setup())
            return EXECUTION_FAILURE;
        return cronium_variable_delete(client, args[0], NULL) == CRONIUM_OK ? EXECUTION_SUCCESS : fail_last();
    }
    if (strcmp(cmd, "list-variables") == 0) {
        if (setup())
            return EXECUTION_FAILURE;
        if (cronium_variable_list(client, &json) != CRONIUM_OK)
            return fail_last();
        char *lines = lines_of(json);
        cronium_string_free(json);
        if (!lines)
            return fail("internal", "out of memory");
        int status = EXECUTION_SUCCESS;
        if (var)
            status = answer(var, lines);
        else if (*lines)
            status = answer(NULL, lines);
        free(lines);
        return status;
    }
    if (strcmp(cmd, "set-condition") == 0) {
        const char *v = argc ? args[0] : "";
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "the condition is true or false (got '%.200s')", v);
            /* invalid_body: the API's code for a condition that is not a boolean, the one
             * every binding gives (docs/bindings.md). */
            return fail("invalid_body", msg);
        }
        if (setup())
            return EXECUTION_FAILURE;
        return cronium_condition_set(client, v[0] == 't') == CRONIUM_OK ? EXECUTION_SUCCESS : fail_last();
    }
    if (strcmp(cmd, "get-condition") == 0) {
        if (setup())
            return EXECUTION_FAILURE;
        bool cond = false, is_set = false;
        if (cronium_condition_get(client, &cond, &is_set) != CRONIUM_OK)
            return fail_last();
        return answer(var, is_set ? (cond ? "true" : "false") : "null");
    }
    if (strcmp(cmd, "execute-tool-action") == 0) {
        if (argc < 3 || !valid_key(args[0]) || !valid_key(args[1]))
            return fail("invalid_argument", "usage: cronium_execute_tool_action TOOL ACTION PARAMS_JSON");
        if (setup())
            return EXECUTION_FAILURE;
        r = cronium_tool_action_execute(client, args[0], args[1], args[2], NULL, &json);
        return answer_owned(var, r, json);
    }
    if (strcmp(cmd, "stream-input") == 0) {
        if (setup())
            return EXECUTION_FAILURE;
        return stream_input();
    }
    if (strcmp(cmd, "stream-output") == 0) {
        if (setup())
            return EXECUTION_FAILURE;
        return stream_output();
    }
    snprintf(fname, sizeof fname, "cronium_native");
    char msg[300];
    snprintf(msg, sizeof msg, "unknown subcommand '%.200s'", cmd);
    fail("invalid_argument", msg);
    return EX_USAGE;
}

/* Called by `enable -d`: frees the client. */
void cronium_native_builtin_unload(char *name) {
    (void)name;
    if (client && client_pid == getpid())
        cronium_client_free(client);
    client = NULL;
    free(client_endpoint);
    free(client_token);
    client_endpoint = client_token = NULL;
}

static char *cronium_doc[] = {
    "Call the Cronium runtime (the script's sidecar) without fork or exec.",
    "",
    "Subcommands: input, output [JSON], get-variable KEY [DEFAULT],",
    "set-variable KEY JSON, delete-variable KEY, list-variables,",
    "set-condition true|false, get-condition, event,",
    "execute-tool-action TOOL ACTION PARAMS_JSON, stream-input, stream-output.",
    "",
    "Options:",
    "  -v NAME  assign the answer to the shell variable NAME instead of printing it",
    "",
    "Exit Status: 0 on success, 1 when the call fails (one line on stderr:",
    "FUNCTION: CODE: MESSAGE), 2 on bad usage.",
    NULL,
};

struct builtin cronium_native_struct = {
    "cronium_native", cronium_builtin, BUILTIN_ENABLED, cronium_doc, "cronium_native [-v NAME] SUBCOMMAND [ARGS...]", 0,
};

/* SPDX-License-Identifier: MIT */
/* json_worker.c - a C worker that takes tasks from a Python driver over
 * one multiprocessing.connection link, as JSON, and answers in JSON.
 *
 * Usage: MP_AUTHKEY=<hex> json_worker ADDRESS
 *
 * Python's conn.send(obj) pickles, which C does not speak; both sides
 * speak send_bytes/recv_bytes, so the two agree on JSON (cJSON here, the
 * json module there). The worker connects to the driver's Listener at
 * ADDRESS with the authkey from the environment (never on the command line,
 * where ps shows it), then answers each task until the driver sends the
 * stop task ({"op": "stop"}: the C twin of a None pill):
 *
 *   {"id": 7, "op": "sum_squares", "n": 10}  ->  {"id": 7, "result": 385}
 *   {"id": 8, "op": "word_count", "text": "a b"} -> {"id": 8, "result": 2}
 *   anything else  ->  {"id": ..., "error": "why"}  (Python raises it)
 *
 * The Python side is examples/json_driver.py, which starts the workers. */
#include <multiproc.h>

#include <cjson/cJSON.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long to wait for the driver to accept and authenticate us. */
#define CONNECT_MS 10000

/* hex_decode turns the hex string hex into bytes in out (at most cap).
 * Returns the byte count, or -1 when hex is not an even-length hex string
 * that fits. */
static long
hex_decode(const char *hex, unsigned char *out, size_t cap)
{
    size_t len = strlen(hex);
    if (len % 2 != 0 || len / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)hex[2 * i]) ||
            !isxdigit((unsigned char)hex[2 * i + 1]) ||
            sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (unsigned char)v;
    }
    return (long)(len / 2);
}

/* run_task computes the answer to task into reply (which already holds
 * the task's id). Returns 1 for the stop task, 0 otherwise. */
static int
run_task(const cJSON *task, cJSON *reply)
{
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(task, "op");
    if (!cJSON_IsString(op)) {
        cJSON_AddStringToObject(reply, "error", "a task needs a string op");
        return 0;
    }
    if (strcmp(op->valuestring, "stop") == 0) {
        return 1;
    }
    if (strcmp(op->valuestring, "sum_squares") == 0) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(task, "n");
        if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 1e6) {
            cJSON_AddStringToObject(reply, "error",
                                    "sum_squares needs 0 <= n <= 1000000");
            return 0;
        }
        double sum = 0;
        for (long i = 1; i <= (long)n->valuedouble; i++) {
            sum += (double)i * (double)i;
        }
        cJSON_AddNumberToObject(reply, "result", sum);
        return 0;
    }
    if (strcmp(op->valuestring, "word_count") == 0) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(task, "text");
        if (!cJSON_IsString(text)) {
            cJSON_AddStringToObject(reply, "error",
                                    "word_count needs a string text");
            return 0;
        }
        long words = 0;
        int in_word = 0;
        for (const char *p = text->valuestring; *p != '\0'; p++) {
            int space = isspace((unsigned char)*p);
            words += !space && !in_word;
            in_word = !space;
        }
        cJSON_AddNumberToObject(reply, "result", (double)words);
        return 0;
    }
    char why[160];
    snprintf(why, sizeof why, "unknown op '%.100s'", op->valuestring);
    cJSON_AddStringToObject(reply, "error", why);
    return 0;
}

/* serve answers tasks on c until the stop task or the end of the stream.
 * Returns the number of tasks answered, or a negative error. */
static long
serve(mp_conn_t *c)
{
    long answered = 0;
    for (;;) {
        void *msg = NULL;
        ssize_t n = mp_conn_recv_bytes(c, &msg, 1 << 20, MP_WAIT_FOREVER);
        if (n == MP_EOF) {
            return answered; /* the driver went away: nothing more to do */
        }
        if (n < 0) {
            return n;
        }
        cJSON *task = cJSON_ParseWithLength(msg, (size_t)n);
        mp_free(msg);
        cJSON *reply = cJSON_CreateObject();
        if (reply == NULL) {
            cJSON_Delete(task);
            return MP_ENOMEM;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(task, "id");
        cJSON_AddItemToObject(reply, "id",
                              cJSON_IsNumber(id)
                                  ? cJSON_CreateNumber(id->valuedouble)
                                  : cJSON_CreateNull());
        int stop = 0;
        if (task == NULL) {
            cJSON_AddStringToObject(reply, "error", "not JSON");
        } else {
            stop = run_task(task, reply);
        }
        cJSON_Delete(task);
        if (stop) {
            cJSON_Delete(reply);
            return answered;
        }
        char *text = cJSON_PrintUnformatted(reply);
        cJSON_Delete(reply);
        if (text == NULL) {
            return MP_ENOMEM;
        }
        int rc = mp_conn_send_bytes(c, text, strlen(text), MP_WAIT_FOREVER);
        cJSON_free(text);
        if (rc < 0) {
            return rc;
        }
        answered++;
    }
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: MP_AUTHKEY=<hex> %s ADDRESS\n", argv[0]);
        return 2;
    }
    const char *hex = getenv("MP_AUTHKEY");
    unsigned char key[256];
    long klen = hex != NULL ? hex_decode(hex, key, sizeof key) : -1;
    if (klen < 0) {
        fprintf(stderr, "json_worker: MP_AUTHKEY must hold the key in hex\n");
        return 2;
    }
    mp_conn_t *c;
    int rc = mp_client_connect(&c, argv[1], key, (size_t)klen, CONNECT_MS);
    if (rc < 0) {
        fprintf(stderr, "json_worker: connect %s: %s\n", argv[1],
                mp_strerror(rc));
        return 1;
    }
    long answered = serve(c);
    mp_conn_destroy(c);
    if (answered < 0) {
        fprintf(stderr, "json_worker: %s\n", mp_strerror((int)answered));
        return 1;
    }
    return 0;
}

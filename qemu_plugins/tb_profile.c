/*
 * tb_profile: how often each guest instruction runs (TCG plugin, API version 1), for
 * per-function instruction profiles of firmware under qemu-system-arm
 * (tools/profile_mcu.py maps the addresses to symbols).
 *
 * Each translated block gets a record (its instructions' addresses and an execution
 * counter) and an inline "counter += 1" at its start; every instruction of a block runs as
 * often as the block (an exception in mid-block is the only exception, and rare).
 * A block translated again gets a second record; the reader adds them up.
 *
 * Arguments (-plugin tb_profile.so,out=FILE):
 *   out=FILE   written at exit, one line per block that ran:
 *                "tb COUNT ADDR ADDR ..."   COUNT executions, ADDR the instructions' guest
 *                                           addresses (hex), in order
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

typedef struct block {
    uint64_t count;
    struct block *next;
    size_t n;
    uint64_t addr[];
} block;

static block *blocks;
static FILE *out_file;

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    block *b = calloc(1, sizeof *b + n * sizeof b->addr[0]);
    if (b == NULL) {
        fprintf(stderr, "tb_profile: out of memory\n");
        abort();
    }
    b->n = n;
    for (size_t i = 0; i < n; i++)
        b->addr[i] = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i));
    b->next = blocks;
    blocks = b;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, 1);
}

static void on_exit_(qemu_plugin_id_t id, void *userdata)
{
    (void)id; (void)userdata;
    for (const block *b = blocks; b != NULL; b = b->next) {
        if (b->count == 0) continue;
        fprintf(out_file, "tb %llu", (unsigned long long)b->count);
        for (size_t i = 0; i < b->n; i++)
            fprintf(out_file, " %llx", (unsigned long long)b->addr[i]);
        fputc('\n', out_file);
    }
    fclose(out_file);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            out = argv[i] + 4;
        } else {
            fprintf(stderr, "tb_profile: unknown argument '%s' (out=FILE)\n", argv[i]);
            return -1;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "tb_profile: out=FILE is required\n");
        return -1;
    }
    out_file = fopen(out, "w");
    if (out_file == NULL) {
        fprintf(stderr, "tb_profile: cannot open the output file\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_, NULL);
    return 0;
}

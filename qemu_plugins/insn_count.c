/*
 * insn_count: counts the guest instructions QEMU executes (TCG plugin, API version 1).
 *
 * Each translated block gets an inline "counter += instructions in the block" at its start
 * (no helper call per instruction), so counting costs little emulation speed.
 *
 * Arguments (-plugin insn_count.so,out=FILE[,marker=N]):
 *   out=FILE   where to append the results (required); one line per event:
 *                "mark PID LABEL COUNT"  when the guest makes system call N (a marker),
 *                                        LABEL its first argument, written at once
 *                "exit PID COUNT"        when the process exits
 *              COUNT is the number of instructions executed so far by that process.
 *   marker=N   the system call number the guest uses as a marker (default 0x4544), one
 *              that the kernel does not implement: the guest's call returns ENOSYS.
 * The counter is shared by the process's threads and not atomic: exact for one thread.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t executed;     /* instructions executed (inline adds) */
static int64_t marker = 0x4544;
static int out_fd = -1;

static void emit(const char *line, size_t n)
{
    /* one write per line on an O_APPEND descriptor: lines of forked processes do not mix */
    if (write(out_fd, line, n) != (ssize_t)n) {
        fprintf(stderr, "insn_count: cannot write the output file\n");
    }
}

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed,
                                             qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8)
{
    (void)id; (void)vcpu; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; (void)a8;
    if (num != marker) {
        return;
    }
    char line[96];
    int n = snprintf(line, sizeof line, "mark %ld %llu %llu\n", (long)getpid(),
                     (unsigned long long)a1, (unsigned long long)executed);
    emit(line, (size_t)n);
}

static void on_exit_(qemu_plugin_id_t id, void *userdata)
{
    (void)id; (void)userdata;
    char line[64];
    int n = snprintf(line, sizeof line, "exit %ld %llu\n", (long)getpid(),
                     (unsigned long long)executed);
    emit(line, (size_t)n);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            out = argv[i] + 4;
        } else if (strncmp(argv[i], "marker=", 7) == 0) {
            char *end;
            marker = strtoll(argv[i] + 7, &end, 0);
            if (*end != '\0') {
                fprintf(stderr, "insn_count: marker=N needs a number\n");
                return -1;
            }
        } else {
            fprintf(stderr, "insn_count: unknown argument (expected out=FILE, marker=N)\n");
            return -1;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "insn_count: out=FILE is required\n");
        return -1;
    }
    out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        fprintf(stderr, "insn_count: cannot open the output file\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_exit_, NULL);
    return 0;
}

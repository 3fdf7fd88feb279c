/*
 * cm_cycles: estimated Cortex-M4 / M7 cycles for Thumb code run by qemu-system-arm (TCG
 * plugin, API version 1). QEMU does not model timing; this plugin classifies each executed
 * instruction (decoded from its Thumb encoding) and applies a per-class cycle table from
 * the cores' Technical Reference Manuals. The tables, their sources and assumptions (zero
 * wait-state memory, no caches, M7 single issue unless bounded) are in
 * qemu_plugins/CORTEX_M_CYCLES.md; the numbers below must match it.
 *
 * Per translated block the plugin precomputes its instruction count, class counts and
 * cycles (estimate, low, high), added by inline ops when the block runs. A conditional
 * branch ends a block; one callback per block execution sees whether the next block starts
 * at the fall-through address (not taken) or elsewhere (taken: the pipeline refill is
 * added).
 *
 * Arguments (-plugin cm_cycles.so,out=FILE,cpu=m4|m7[,mark=ADDR]):
 *   out=FILE   results, appended; one line per event, written at once:
 *                "mark INSNS EST LOW HIGH TAKEN C0 C1 ..."  each time the instruction at
 *                                                          ADDR runs (before it runs)
 *                "exit INSNS EST LOW HIGH TAKEN C0 C1 ..."  when QEMU exits
 *              INSNS instructions, EST/LOW/HIGH cycles, TAKEN taken conditional branches,
 *              C0.. the executed instructions per class (order of CLASS_NAMES, also written
 *              once as the first line: "classes NAME0 NAME1 ...").
 *   cpu=m4|m7  the cycle table (default m4)
 *   mark=ADDR  address of an instruction (e.g. the firmware's clock read) to report at
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum cls {
    C_ALU, C_DSP, C_MUL, C_MULL, C_DIV, C_LOAD, C_STORE, C_LDRD, C_STRD, C_LDM, C_STM,
    C_BRANCH, C_BCOND, C_IT, C_FPV, C_OTHER, N_CLS
};
static const char *const CLASS_NAMES[N_CLS] = {
    "alu", "dsp_simd", "mul_mac", "mul_long", "divide", "load", "store", "load_dual",
    "store_dual", "load_multiple", "store_multiple", "branch", "branch_cond", "it",
    "fp_vector", "other"};

enum { EST, LOW, HIGH, N_BOUND };

/* Cycles per class [EST, LOW, HIGH]; load/store single and multiple, and branches, have
 * rules on top (cost_of). CORTEX_M_CYCLES.md documents every entry. */
typedef struct {
    unsigned base[N_CLS][N_BOUND];
    unsigned ls_first[N_BOUND], ls_next[N_BOUND];   /* load/store single: first, pipelined */
    unsigned refill[N_BOUND];                       /* taken branch: 1 + refill */
    unsigned dual_issue;                            /* LOW bounds a 2-wide issue (M7) */
} table_t;

static const table_t M4 = {
    .base = {
        [C_ALU] = {1, 1, 1}, [C_DSP] = {1, 1, 1}, [C_MUL] = {1, 1, 1}, [C_MULL] = {1, 1, 1},
        [C_DIV] = {7, 2, 12}, [C_LOAD] = {0, 0, 0}, [C_STORE] = {0, 0, 0},
        [C_LDRD] = {3, 3, 3}, [C_STRD] = {3, 3, 3}, [C_LDM] = {1, 1, 1}, [C_STM] = {1, 1, 1},
        [C_BRANCH] = {1, 1, 1}, [C_BCOND] = {1, 1, 1}, [C_IT] = {1, 0, 1},
        [C_FPV] = {1, 1, 3}, [C_OTHER] = {1, 1, 4}},
    .ls_first = {2, 1, 2}, .ls_next = {1, 1, 2}, .refill = {2, 1, 3}, .dual_issue = 0};

static const table_t M7 = {
    .base = {
        [C_ALU] = {1, 1, 1}, [C_DSP] = {1, 1, 1}, [C_MUL] = {1, 1, 1}, [C_MULL] = {1, 1, 2},
        [C_DIV] = {7, 2, 12}, [C_LOAD] = {0, 0, 0}, [C_STORE] = {0, 0, 0},
        [C_LDRD] = {1, 1, 2}, [C_STRD] = {1, 1, 2}, [C_LDM] = {1, 1, 1}, [C_STM] = {1, 1, 1},
        [C_BRANCH] = {1, 1, 1}, [C_BCOND] = {1, 1, 1}, [C_IT] = {1, 0, 1},
        [C_FPV] = {1, 1, 3}, [C_OTHER] = {1, 1, 4}},
    .ls_first = {1, 1, 2}, .ls_next = {1, 1, 2}, .refill = {1, 0, 3}, .dual_issue = 1};

static const table_t *tab = &M4;

/* Totals, updated by inline adds (one vCPU: the Cortex-M machines have one). */
static uint64_t n_insns, cycles[N_BOUND], class_count[N_CLS], taken_cond;
static uint64_t mark_addr = UINT64_MAX;
static int out_fd = -1;

typedef struct tb_info {
    uint64_t vaddr, fallthrough;
    int ends_cond;               /* last instruction is a conditional branch */
} tb_info;
static const tb_info *prev_tb;

typedef struct {
    enum cls c;
    unsigned regs;               /* registers moved by LDM / STM / PUSH / POP */
    int branch;                  /* 0 none, 1 always taken (B, BL, BX, POP pc...), 2 cond */
} insn_class;

static unsigned popcount(unsigned v) { return (unsigned)__builtin_popcount(v); }

static insn_class classify16(unsigned hw)
{
    insn_class r = {C_ALU, 0, 0};
    if (hw < 0x4000) return r;                                   /* shift, add, mov, cmp */
    if (hw < 0x4400) { if ((hw & 0xFFC0) == 0x4340) r.c = C_MUL; return r; }
    if (hw < 0x4800) {                                           /* hi regs, BX / BLX */
        unsigned rd = ((hw >> 4) & 8) | (hw & 7), op = (hw >> 8) & 3;
        if (op == 3 || (op != 1 && rd == 15)) { r.c = C_BRANCH; r.branch = 1; }
        return r;
    }
    if (hw < 0x5000) { r.c = C_LOAD; return r; }                 /* LDR literal */
    if (hw < 0x6000) { r.c = ((hw >> 9) & 7) < 3 ? C_STORE : C_LOAD; return r; }
    if (hw < 0xA000) { r.c = hw & 0x0800 ? C_LOAD : C_STORE; return r; }
    if (hw < 0xB000) return r;                                   /* ADR, ADD sp */
    if (hw < 0xC000) {                                           /* miscellaneous */
        if ((hw & 0xF500) == 0xB100) { r.c = C_BCOND; r.branch = 2; return r; }   /* CBZ */
        if ((hw & 0xFE00) == 0xB400) { r.c = C_STM; r.regs = popcount(hw & 0x1FF); return r; }
        if ((hw & 0xFE00) == 0xBC00) {                           /* POP */
            r.c = C_LDM;
            r.regs = popcount(hw & 0x1FF);
            r.branch = (hw >> 8) & 1;
            return r;
        }
        if ((hw & 0xFF00) == 0xBF00) { r.c = hw & 0xF ? C_IT : C_OTHER; return r; }
        if ((hw & 0xFF00) == 0xBE00) r.c = C_OTHER;              /* BKPT */
        return r;
    }
    if (hw < 0xD000) { r.c = hw & 0x0800 ? C_LDM : C_STM; r.regs = popcount(hw & 0xFF); return r; }
    if (hw < 0xE000) {
        if ((hw & 0xFE00) == 0xDE00) { r.c = C_OTHER; return r; }   /* UDF, SVC */
        r.c = C_BCOND;
        r.branch = 2;
        return r;
    }
    r.c = C_BRANCH;                                              /* B */
    r.branch = 1;
    return r;
}

static insn_class classify32(unsigned hw1, unsigned hw2)
{
    insn_class r = {C_ALU, 0, 0};
    if ((hw1 & 0xFE40) == 0xE840) {                  /* dual, exclusive, table branch */
        if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000) {
            r.c = C_BRANCH;                          /* TBB / TBH */
            r.branch = 1;
        } else if (!(hw1 & 0x0120)) {
            r.c = hw1 & 0x10 ? C_LOAD : C_STORE;     /* LDREX / STREX */
        } else {
            r.c = hw1 & 0x10 ? C_LDRD : C_STRD;
        }
        return r;
    }
    if ((hw1 & 0xFE00) == 0xE800) {                  /* LDM / STM (PUSH.W / POP.W) */
        r.c = hw1 & 0x10 ? C_LDM : C_STM;
        r.regs = popcount(hw2 & 0xDFFF);
        r.branch = (hw1 & 0x10) && (hw2 & 0x8000);
        return r;
    }
    if ((hw1 & 0xFE00) == 0xEA00) return r;          /* data processing, shifted register */
    if ((hw1 & 0xEC00) == 0xEC00) { r.c = C_FPV; return r; }    /* coprocessor: FP, MVE */
    if (hw1 < 0xF800) {                              /* 11110: immediates, branches */
        if (!(hw2 & 0x8000)) return r;               /* data processing immediate, SSAT.. */
        if ((hw2 & 0x5000) != 0) { r.c = C_BRANCH; r.branch = 1; return r; }   /* B.W, BL */
        if (((hw1 >> 6) & 0xE) != 0xE) { r.c = C_BCOND; r.branch = 2; return r; }
        r.c = C_OTHER;                               /* MSR, MRS, barriers, hints */
        return r;
    }
    if (hw1 < 0xFA00) {                              /* load / store single */
        if (!(hw1 & 0x10)) { r.c = C_STORE; return r; }
        if ((hw2 >> 12) == 15) {                     /* Rt = pc: LDR pc, or PLD / PLI */
            if (((hw1 >> 5) & 3) == 2) { r.c = C_LOAD; r.branch = 1; }
            else r.c = C_OTHER;
            return r;
        }
        r.c = C_LOAD;
        return r;
    }
    if (hw1 < 0xFB00) {                              /* data processing, register */
        if ((hw1 & 0xFF80) == 0xFA80) { r.c = C_DSP; return r; }   /* parallel, SEL, Q.. */
        if ((hw2 & 0xF080) == 0xF080 && ((hw1 >> 5) & 3) == 1) r.c = C_DSP;  /* (S|U)XT(A)B16 */
        return r;
    }
    if (hw1 < 0xFB80) { r.c = C_MUL; return r; }     /* MUL, MLA, SMLAD, SMLABB, ... */
    if (hw1 < 0xFC00) {
        r.c = ((hw1 & 0xFFD0) == 0xFB90 && (hw2 & 0xF0) == 0xF0) ? C_DIV : C_MULL;
        return r;
    }
    r.c = C_FPV;
    return r;
}

static void emit(const char *what)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%s %llu %llu %llu %llu %llu", what,
                     (unsigned long long)n_insns, (unsigned long long)cycles[EST],
                     (unsigned long long)cycles[LOW], (unsigned long long)cycles[HIGH],
                     (unsigned long long)taken_cond);
    for (int c = 0; c < N_CLS && n < (int)sizeof line - 24; c++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %llu",
                      (unsigned long long)class_count[c]);
    line[n++] = '\n';
    if (write(out_fd, line, (size_t)n) != n) fprintf(stderr, "cm_cycles: cannot write\n");
}

static void on_tb_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    const tb_info *t = udata;
    if (prev_tb && prev_tb->ends_cond && t->vaddr != prev_tb->fallthrough) {
        taken_cond++;
        for (int b = 0; b < N_BOUND; b++) cycles[b] += tab->refill[b];
    }
    prev_tb = t;
}

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu; (void)udata;
    emit("mark");
}

static void add_inline(struct qemu_plugin_tb *tb, uint64_t *ptr, uint64_t n)
{
    if (n) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, ptr, n);
}

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    uint64_t cls[N_CLS] = {0}, cyc[N_BOUND] = {0};
    uint64_t slots = 0, ls_slots = 0, mac = 0;     /* M7 dual-issue bound */
    int prev_ls = 0, it_left = 0, ends_cond = 0;
    uint64_t end = qemu_plugin_tb_vaddr(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint8_t *p = qemu_plugin_insn_data(insn);
        const size_t size = qemu_plugin_insn_size(insn);
        const unsigned hw1 = p[0] | (unsigned)p[1] << 8;
        insn_class k = size == 4 ? classify32(hw1, p[2] | (unsigned)p[3] << 8)
                                 : classify16(hw1);
        int in_it = it_left > 0;
        if (in_it) it_left--;
        if (k.c == C_IT) it_left = 4 - __builtin_ctz(hw1 & 0xF);
        if (k.branch == 1 && in_it) k.branch = 2;   /* a branch in an IT block: conditional */
        if (k.c == C_BRANCH && k.branch == 2) k.c = C_BCOND;
        cls[k.c]++;
        const int ls = k.c == C_LOAD || k.c == C_STORE;
        for (int b = 0; b < N_BOUND; b++) {
            unsigned c = tab->base[k.c][b];
            if (ls) c = prev_ls ? tab->ls_next[b] : tab->ls_first[b];
            if (k.c == C_LDM || k.c == C_STM)
                c += tab->dual_issue ? (k.regs + 1) / 2 + (b == HIGH ? k.regs / 2 : 0) : k.regs;
            if (k.branch == 1) c += tab->refill[b];   /* always taken */
            cyc[b] += c;
        }
        prev_ls = ls;
        slots++;
        ls_slots += ls || k.c == C_LDRD || k.c == C_STRD ? 1
                    : (k.c == C_LDM || k.c == C_STM ? (k.regs + 1) / 2 : 0);
        mac += k.c == C_MUL || k.c == C_MULL;
        if (mark_addr != UINT64_MAX && (qemu_plugin_insn_vaddr(insn) | 1) == (mark_addr | 1))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
        end = qemu_plugin_insn_vaddr(insn) + size;
        ends_cond = k.branch == 2;
    }
    if (tab->dual_issue) {   /* 2-wide issue, one load/store and one MAC pipe: a floor */
        uint64_t floor = (slots + 1) / 2;
        if (ls_slots > floor) floor = ls_slots;
        if (mac > floor) floor = mac;
        cyc[LOW] = floor;
    }
    tb_info *t = malloc(sizeof *t);   /* lives as long as the translation (not freed) */
    if (!t) abort();
    t->vaddr = qemu_plugin_tb_vaddr(tb);
    t->fallthrough = end;
    t->ends_cond = ends_cond;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
    add_inline(tb, &n_insns, n);
    for (int b = 0; b < N_BOUND; b++) add_inline(tb, &cycles[b], cyc[b]);
    for (int c = 0; c < N_CLS; c++) add_inline(tb, &class_count[c], cls[c]);
}

static void on_exit_(qemu_plugin_id_t id, void *userdata)
{
    (void)id; (void)userdata;
    emit("exit");
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        char *end;
        if (strncmp(argv[i], "out=", 4) == 0) {
            out = argv[i] + 4;
        } else if (strcmp(argv[i], "cpu=m4") == 0) {
            tab = &M4;
        } else if (strcmp(argv[i], "cpu=m7") == 0) {
            tab = &M7;
        } else if (strncmp(argv[i], "mark=", 5) == 0) {
            mark_addr = strtoull(argv[i] + 5, &end, 0);
            if (*end != '\0') {
                fprintf(stderr, "cm_cycles: mark=ADDR needs a number\n");
                return -1;
            }
        } else {
            fprintf(stderr, "cm_cycles: unknown argument '%s' (out=FILE, cpu=m4|m7, "
                    "mark=ADDR)\n", argv[i]);
            return -1;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "cm_cycles: out=FILE is required\n");
        return -1;
    }
    out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        fprintf(stderr, "cm_cycles: cannot open the output file\n");
        return -1;
    }
    char line[256];
    int n = snprintf(line, sizeof line, "classes");
    for (int c = 0; c < N_CLS; c++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s", CLASS_NAMES[c]);
    line[n++] = '\n';
    if (write(out_fd, line, (size_t)n) != n) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_, NULL);
    return 0;
}

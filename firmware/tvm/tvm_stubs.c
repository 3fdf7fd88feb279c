/* The few TVM runtime symbols that TVM-generated Cortex-M kernels (backends/tvm/mcu) may
 * reference: a stack-like workspace allocator over a static pool (untuned code with big
 * temporaries), a serial parallel launch (schedule rules may still emit `parallel`
 * loops), the function pointers LLVM objects call them through, and the empty personality routine LLVM objects name in their unwind tables. */
#include <stddef.h>
#include <stdint.h>

#ifndef EMB_TVM_WORKSPACE_BYTES
#define EMB_TVM_WORKSPACE_BYTES 16384
#endif

typedef struct {
    void *sync_handle;
    int32_t num_task;
} TVMParallelGroupEnv;
typedef int (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv *penv, void *cdata);

static uint8_t workspace[EMB_TVM_WORKSPACE_BYTES] __attribute__((aligned(16)));
static size_t workspace_top;

void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes,
                               int dtype_code_hint, int dtype_bits_hint)
{
    (void)device_type; (void)device_id; (void)dtype_code_hint; (void)dtype_bits_hint;
    const size_t need = (size_t)((nbytes + 15u) & ~(uint64_t)15u);
    if (nbytes > EMB_TVM_WORKSPACE_BYTES || need > EMB_TVM_WORKSPACE_BYTES - workspace_top)
        return NULL;
    void *p = workspace + workspace_top;
    workspace_top += need;
    return p;
}

/* Frees come in reverse order of allocation (TVM's lowered code nests them). */
int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr)
{
    (void)device_type; (void)device_id;
    const uint8_t *p = (const uint8_t *)ptr;
    if (p < workspace || p >= workspace + EMB_TVM_WORKSPACE_BYTES) return -1;
    workspace_top = (size_t)(p - workspace);
    return 0;
}

int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void *cdata, int num_task)
{
    (void)num_task;
    TVMParallelGroupEnv env = {NULL, 1};
    return flambda(0, &env, cdata);
}

int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv *penv)
{
    (void)task_id; (void)penv;
    return 0;
}

/* LLVM objects call the runtime through these pointers (weak, null in the object). */
void *(*__TVMBackendAllocWorkspace)(int, int, uint64_t, int, int) = TVMBackendAllocWorkspace;
int (*__TVMBackendFreeWorkspace)(int, int, void *) = TVMBackendFreeWorkspace;
int (*__TVMBackendParallelLaunch)(FTVMParallelLambda, void *, int) = TVMBackendParallelLaunch;
int (*__TVMBackendParallelBarrier)(int, TVMParallelGroupEnv *) = TVMBackendParallelBarrier;

void __aeabi_unwind_cpp_pr0(void) {}

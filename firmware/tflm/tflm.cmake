# What compiling TFLM and code against it needs, shared by the library build (library/CMakeLists.txt)
# and by the models that link it (CMakeLists.txt): include directories and definitions of a tree made by
# create_tflm_tree.py with OPTIMIZED_KERNEL_DIR=cmsis_nn (tensorflow/ with kernels/cmsis_nn/ in place
# of the same-named reference kernels, third_party/cmsis_nn/, third_party/cmsis/ for CMSIS-Core).
function(tinyhil_tflm_usage tree out_includes out_definitions)
  set(${out_includes}
      "${tree}" "${tree}/third_party/flatbuffers/include" "${tree}/third_party/gemmlowp"
      "${tree}/third_party/ruy" "${tree}/third_party/kissfft" "${tree}/third_party/cmsis_nn"
      "${tree}/third_party/cmsis_nn/Include" "${tree}/third_party/cmsis/CMSIS/Core/Include" PARENT_SCOPE)
  # TFLM's Makefile flags for cortex_m_generic with OPTIMIZED_KERNEL_DIR=cmsis_nn (-DCMSIS_NN: the kernel
  # headers then declare the CMSIS-NN int8 registrations): static memory, no x86 paths, CMSIS-NN without float
  # kernels. CMSIS-NN takes its DSP (SMLAD) paths from __ARM_FEATURE_DSP, which -mcpu=cortex-m7 sets.
  set(${out_definitions} CMSIS_NN TF_LITE_STATIC_MEMORY TF_LITE_DISABLE_X86_NEON TF_LITE_MCU_DEBUG_LOG CPU_M7=1
      ARM_NN_ENABLE_F16=0 ARM_NN_ENABLE_F32=0 PARENT_SCOPE)
endfunction()

/* The measurement harness: hello at boot, then for each request run the model once and reply
 * with the output tensor (or its CRC-32), latency, stack high-water, arena size and (when the
 * model has the per-layer hook) the platform tick count at the end of every layer.
 *
 * Memory: the input is received (or generated from a seed) straight into the model's input tensor
 * and the output is sent from the model's output tensor, both inside the model's arena. The
 * harness's own static RAM is a small fixed part (a 16-byte control buffer, the per-layer stamps)
 * whatever the size of the model's tensors. */
#include <stdint.h>
#include <string.h>

#include "crc32.h"
#include "model.h"
#include "platform.h"
#include "protocol.h"
#include "seeded_input.h"
#include "stack_meter.h"

#define PROTOCOL_VERSION 3u
#define HELLO_FIXED_BYTES 32u
#define RESULT_HEADER_BYTES 20u
#define HASH_CHARS 64u
#define CONTROL_CAPACITY 16u /* payload of every frame but INFER: HELLO_REQ 0 bytes, INFER_SEEDED 4 */
#define SEED_BYTES 4u

/* Test-only behaviours chosen at build time (TINYHIL_HARNESS_MODE, host/tinyhil/firmware.py
 * HARNESS_MODES): 1 = hang on the first inference, 2 = emit noise before every frame so the host
 * has to resynchronise, 3 = every inference fails with status FAILED_STATUS (MODEL_FAILED),
 * 4 = the core resets itself in the middle of the inference requested with sequence number
 * RESET_SEQ (a board that browns out or a watchdog: the host sees a fresh boot hello), 5 = the first
 * inference executes an undefined instruction in tinyhil_test_fault() (a UsageFault on purpose),
 * 6 = the firmware ends itself in the middle of every inference with status EXIT_STATUS (on QEMU, a
 * semihosting exit: the emulator process ends mid-run), 7 = the latency counter reads 0 as if it had
 * stopped (what a debugger's disconnect did to DWT->CYCCNT before the counter was restarted per run). */
#ifndef TINYHIL_HARNESS_MODE
#define TINYHIL_HARNESS_MODE 0
#endif
#define FAILED_STATUS (-3)
#define RESET_SEQ 2u
#define EXIT_STATUS 6

/* Per-layer timing (TINYHIL_LAYER_TIMING, on by default in CMakeLists.txt): the generated model
 * calls tinyhil_layer_done(i) after layer i; it stores platform_elapsed() (same clock and unit as
 * the total latency, truncated to 32 bits) at the end of that layer. Costs one timer read and one
 * store per layer; models without the hook (TFLM, hand-written) report no layers. */
#ifndef TINYHIL_LAYER_TIMING
#define TINYHIL_LAYER_TIMING 0
#endif
#if TINYHIL_LAYER_TIMING && defined(TINYHIL_MODEL_LAYER_COUNT) && TINYHIL_MODEL_LAYER_COUNT > 0
#define LAYER_STAMPS TINYHIL_MODEL_LAYER_COUNT
static uint32_t layer_stamps[LAYER_STAMPS];

void tinyhil_layer_done(uint32_t index)
{
    if (index < LAYER_STAMPS) {
        layer_stamps[index] = (uint32_t)platform_elapsed();
    }
}
#define LAYER_STAMP_DATA layer_stamps
#else
#define LAYER_STAMPS 0
#define LAYER_STAMP_DATA 0
#endif
#define LAYER_STAMP_BYTES (4u * LAYER_STAMPS)
#if LAYER_STAMPS > 4096
#error "more layers than the result frame's per-layer stamps can carry"
#endif

extern uint32_t __data_start__[], __data_end__[], __bss_start__[], __bss_end__[];
extern uint32_t __flash_start__[], __flash_end__[];

static uint8_t control_payload[CONTROL_CAPACITY] __attribute__((aligned(4)));

#ifdef TINYHIL_MODEL_ARENA_METER
/* The arena's high-water is measured by painting it before an inference (model.h). The input is received
 * straight into the arena, so the paint must come before the input's bytes: it is done once at boot and
 * again right after each reply, while the host is still reading the reply (a USB serial bridge turns a
 * request around in a 1 ms USB frame at best; painting 320 KiB at 480 MHz takes ~0.2 ms). Should a
 * request arrive mid-paint, the lost bytes fail its CRC and the host resends. Two paint bytes in turn: a
 * byte the model writes equal to one shows under the other. */
static uint8_t arena_pattern = 0xA5u;

static void paint_arena(void)
{
    arena_pattern = arena_pattern == 0xA5u ? 0x5Au : 0xA5u;
    tinyhil_model_arena_paint(arena_pattern);
}

static uint32_t arena_high_water(void)
{
    return tinyhil_model_arena_high_water(arena_pattern);
}
#else /* a runtime that manages its own arena (TFLM) reports the size it was given */
static void paint_arena(void)
{
}

static uint32_t arena_high_water(void)
{
    return TINYHIL_MODEL_ARENA_BYTES;
}
#endif

static void emit_noise(void)
{
#if TINYHIL_HARNESS_MODE == 2
    static uint32_t state = 0x12345678u;
    for (int i = 0; i < 23; ++i) {
        state = state * 1664525u + 1013904223u;
        platform_putc((uint8_t)(state >> 24));
    }
    platform_putc(FRAME_MAGIC0); /* a false start the host must skip */
#endif
}

static void send_hello(uint8_t seq)
{
    static const char hash[] = TINYHIL_MODEL_HASH;
    static const char runtime[] = TINYHIL_MODEL_RUNTIME;
    uint8_t hello[HELLO_FIXED_BYTES + HASH_CHARS];
    const uint32_t static_ram = (uint32_t)((uintptr_t)__data_end__ - (uintptr_t)__data_start__)
                              + (uint32_t)((uintptr_t)__bss_end__ - (uintptr_t)__bss_start__);
    const uint32_t flash = (uint32_t)((uintptr_t)__flash_end__ - (uintptr_t)__flash_start__);
    hello[0] = PROTOCOL_VERSION;
    hello[1] = platform_latency_unit;
    hello[2] = (uint8_t)LAYER_STAMPS; /* how many per-layer stamps each result carries */
    hello[3] = (uint8_t)(LAYER_STAMPS >> 8);
    put_u32(&hello[4], TINYHIL_MODEL_ARENA_BYTES);
    put_u32(&hello[8], static_ram);
    put_u32(&hello[12], flash);
    put_u32(&hello[16], stack_size_bytes());
    put_u32(&hello[20], TINYHIL_MODEL_INPUT_BYTES);
    put_u32(&hello[24], TINYHIL_MODEL_OUTPUT_BYTES);
    put_u32(&hello[28], platform_cpu_hz()); /* the clock the core runs at, for any time figure */
    memset(&hello[HELLO_FIXED_BYTES], '0', HASH_CHARS);
    memcpy(&hello[HELLO_FIXED_BYTES], hash, sizeof hash - 1 < HASH_CHARS ? sizeof hash - 1 : HASH_CHARS);
    emit_noise();
    protocol_send(FRAME_HELLO, seq, hello, sizeof hello, (const uint8_t *)runtime, sizeof runtime - 1);
}

static void send_length_error(const struct frame_header *header, uint8_t code, uint32_t allowed)
{
    uint8_t detail[8];
    put_u32(&detail[0], header->length);
    put_u32(&detail[4], allowed);
    protocol_send_error(header->seq, code, header->type, detail, sizeof detail);
}

static void send_model_failed(uint8_t seq, uint8_t type, int status)
{
    uint8_t detail[4];
    put_u32(detail, (uint32_t)status);
    protocol_send_error(seq, ERROR_MODEL_FAILED, type, detail, sizeof detail);
}

#if TINYHIL_HARNESS_MODE == 5
__attribute__((noinline, used)) void tinyhil_test_fault(void)
{
    __asm__ volatile("udf #0");
}
#endif

/* The input is already in the model's input tensor; reply `reply_type` (RESULT or RESULT_CRC). */
static void run_inference(uint8_t seq, uint8_t request_type, uint8_t reply_type)
{
    const int8_t *input = tinyhil_model_input();
    int8_t *output = (int8_t *)tinyhil_model_output(); /* invoke skips the copy into its own tensor */
#if TINYHIL_HARNESS_MODE == 1
    for (;;) {
        __asm__ volatile("nop");
    }
#endif
#if TINYHIL_HARNESS_MODE == 5
    tinyhil_test_fault();
#endif
    stack_paint();
    platform_timer_start();
#if TINYHIL_HARNESS_MODE == 4
    if (seq == RESET_SEQ) {
        platform_reset();
    }
#endif
#if TINYHIL_HARNESS_MODE == 6
    platform_exit(EXIT_STATUS);
#endif
    int status = tinyhil_model_invoke(input, output);
#if TINYHIL_HARNESS_MODE == 7
    const uint64_t latency = 0u;
#else
    const uint64_t latency = platform_elapsed();
#endif
    const uint32_t stack_high_water = stack_high_water_bytes();
    const uint32_t arena_used = arena_high_water();
#if TINYHIL_HARNESS_MODE == 3
    status = FAILED_STATUS;
#endif
    if (status != 0) {
        send_model_failed(seq, request_type, status);
        return;
    }
    if (latency == 0) { /* a stopped counter (DWT off after a debugger detach): a 0 would pass for a measurement */
        protocol_send_error(seq, ERROR_TIMER_STOPPED, request_type, 0, 0);
        return;
    }
    uint8_t header[RESULT_HEADER_BYTES];
    put_u32(&header[0], (uint32_t)latency);
    put_u32(&header[4], (uint32_t)(latency >> 32));
    put_u32(&header[8], stack_high_water);
    put_u32(&header[12], arena_used);
    put_u32(&header[16], (uint32_t)status);
    uint8_t output_crc[4];
    put_u32(output_crc, crc32_update(0, (const uint8_t *)output, TINYHIL_MODEL_OUTPUT_BYTES));
    emit_noise();
    /* payload: header | LAYER_STAMPS x u32 LE (Cortex-M is little-endian) | output tensor or its CRC-32 */
    const int digest = reply_type == FRAME_RESULT_CRC;
    const struct frame_part parts[3] = {{header, sizeof header},
                                        {(const uint8_t *)LAYER_STAMP_DATA, LAYER_STAMP_BYTES},
                                        {digest ? output_crc : (const uint8_t *)output,
                                         digest ? sizeof output_crc : TINYHIL_MODEL_OUTPUT_BYTES}};
    protocol_send_parts(reply_type, seq, parts, 3);
}

static void serve_infer(const struct frame_header *header)
{
    int8_t *input = tinyhil_model_input();
    if (header->length != TINYHIL_MODEL_INPUT_BYTES) {
        send_length_error(header, ERROR_BAD_LENGTH, TINYHIL_MODEL_INPUT_BYTES);
        return; /* the payload's bytes pass through the magic hunt */
    }
    if (input == 0) { /* the runtime could not set its tensors up (TFLM: arena too small) */
        send_model_failed(header->seq, header->type, 1);
        return;
    }
    if (protocol_receive_payload(header, (uint8_t *)input)) {
        run_inference(header->seq, FRAME_INFER, FRAME_RESULT);
        paint_arena(); /* for the next inference, whose input arrives into it */
    }
}

static void serve_control(const struct frame_header *header)
{
    if (header->length > CONTROL_CAPACITY) {
        send_length_error(header, ERROR_TOO_LONG, CONTROL_CAPACITY);
        return;
    }
    if (!protocol_receive_payload(header, control_payload)) {
        return;
    }
    switch (header->type) {
    case FRAME_HELLO_REQ:
        send_hello(header->seq);
        break;
    case FRAME_INFER_SEEDED: {
        int8_t *input = tinyhil_model_input();
        if (header->length != SEED_BYTES) {
            send_length_error(header, ERROR_BAD_LENGTH, SEED_BYTES);
        } else if (input == 0) {
            send_model_failed(header->seq, header->type, 1);
        } else {
            seeded_input(get_u32(control_payload), input, TINYHIL_MODEL_INPUT_BYTES);
            run_inference(header->seq, FRAME_INFER_SEEDED, FRAME_RESULT_CRC);
            paint_arena();
        }
        break;
    }
    default:
        protocol_send_error(header->seq, ERROR_UNKNOWN_TYPE, header->type, 0, 0);
        break;
    }
}

int main(void)
{
    platform_init();
    stack_paint();
    paint_arena();
    send_hello(0);
    for (;;) {
        struct frame_header header;
        protocol_receive_header(&header);
        if (header.seq == DEVICE_SEQ) {
            continue; /* hosts number requests 1..255: a "frame" with seq 0 is noise (a magic inside a payload
                       * being skipped); answering it would look like a report of the device's own */
        }
        if (header.type == FRAME_INFER) {
            serve_infer(&header);
        } else {
            serve_control(&header);
        }
    }
}

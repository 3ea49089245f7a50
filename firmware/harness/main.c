/* The measurement harness: hello at boot, then for each input frame run the model once and reply
 * with the output tensor, latency, stack high-water, arena size and (when the model has the
 * per-layer hook) the platform tick count at the end of every layer. */
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "platform.h"
#include "protocol.h"
#include "stack_meter.h"

#define PROTOCOL_VERSION 2u
#define HELLO_FIXED_BYTES 28u
#define RESULT_HEADER_BYTES 20u
#define HASH_CHARS 64u
#define MIN_CAPACITY 64u
#define RX_CAPACITY (TINYHIL_MODEL_INPUT_BYTES > MIN_CAPACITY ? TINYHIL_MODEL_INPUT_BYTES : MIN_CAPACITY)

/* Test-only behaviours chosen at build time (TINYHIL_HARNESS_MODE): 1 = hang on the first
 * inference, 2 = emit noise before every frame so the host has to resynchronise, 5 = the first
 * inference executes an undefined instruction in tinyhil_test_fault() (a UsageFault on purpose). */
#ifndef TINYHIL_HARNESS_MODE
#define TINYHIL_HARNESS_MODE 0
#endif

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

static uint8_t rx_buffer[RX_CAPACITY] __attribute__((aligned(8)));
static int8_t output_buffer[TINYHIL_MODEL_OUTPUT_BYTES] __attribute__((aligned(8)));

static void put_u32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; ++i) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

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
    memset(&hello[HELLO_FIXED_BYTES], '0', HASH_CHARS);
    memcpy(&hello[HELLO_FIXED_BYTES], hash, sizeof hash - 1 < HASH_CHARS ? sizeof hash - 1 : HASH_CHARS);
    emit_noise();
    protocol_send(FRAME_HELLO, seq, hello, sizeof hello, (const uint8_t *)runtime, sizeof runtime - 1);
}

#if TINYHIL_HARNESS_MODE == 5
__attribute__((noinline, used)) void tinyhil_test_fault(void)
{
    __asm__ volatile("udf #0");
}
#endif

static void run_inference(const struct frame *frame)
{
    if (frame->length != TINYHIL_MODEL_INPUT_BYTES) {
        protocol_send_error(frame->seq, ERROR_BAD_LENGTH, frame->type);
        return;
    }
#if TINYHIL_HARNESS_MODE == 1
    for (;;) {
        __asm__ volatile("nop");
    }
#endif
#if TINYHIL_HARNESS_MODE == 5
    tinyhil_test_fault();
#endif
#ifdef TINYHIL_MODEL_ARENA_METER
    /* two paint bytes in turn: a byte the model writes equal to one shows under the other (model.h) */
    const uint8_t arena_paint = (frame->seq & 1u) ? 0x5Au : 0xA5u;
    tinyhil_model_arena_paint(arena_paint);
#endif
    stack_paint();
    platform_timer_start();
    const int status = tinyhil_model_invoke((const int8_t *)frame->payload, output_buffer);
    const uint64_t latency = platform_elapsed();
    const uint32_t stack_high_water = stack_high_water_bytes();
#ifdef TINYHIL_MODEL_ARENA_METER
    const uint32_t arena_high_water = tinyhil_model_arena_high_water(arena_paint);
#else /* a runtime that manages its own arena (TFLM) reports the size it was given */
    const uint32_t arena_high_water = TINYHIL_MODEL_ARENA_BYTES;
#endif
    if (status != 0) {
        const uint8_t payload[2] = {ERROR_MODEL_FAILED, (uint8_t)status};
        protocol_send(FRAME_ERROR, frame->seq, payload, sizeof payload, 0, 0);
        return;
    }
    if (latency == 0) { /* a stopped counter (DWT off after a debugger detach): a 0 would pass for a measurement */
        protocol_send_error(frame->seq, ERROR_TIMER_STOPPED, frame->type);
        return;
    }
    uint8_t header[RESULT_HEADER_BYTES];
    put_u32(&header[0], (uint32_t)latency);
    put_u32(&header[4], (uint32_t)(latency >> 32));
    put_u32(&header[8], stack_high_water);
    put_u32(&header[12], arena_high_water);
    put_u32(&header[16], (uint32_t)status);
    emit_noise();
    /* result payload: header | LAYER_STAMPS x u32 LE (Cortex-M is little-endian) | output tensor */
    const struct frame_part parts[3] = {{header, sizeof header},
                                        {(const uint8_t *)LAYER_STAMP_DATA, LAYER_STAMP_BYTES},
                                        {(const uint8_t *)output_buffer, TINYHIL_MODEL_OUTPUT_BYTES}};
    protocol_send_parts(FRAME_RESULT, frame->seq, parts, 3);
}

int main(void)
{
    platform_init();
    stack_paint();
    send_hello(0);
    for (;;) {
        struct frame frame;
        protocol_receive(&frame, rx_buffer, sizeof rx_buffer);
        switch (frame.type) {
        case FRAME_INFER:
            run_inference(&frame);
            break;
        case FRAME_HELLO_REQ:
            send_hello(frame.seq);
            break;
        default:
            protocol_send_error(frame.seq, ERROR_UNKNOWN_TYPE, frame.type);
            break;
        }
    }
}

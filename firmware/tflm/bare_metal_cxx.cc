// The two pieces of the C++ runtime a TFLM firmware references, for a firmware linked by gcc without libstdc++
// (the harness is C). TFLM allocates nothing on the heap (a static arena; the glue builds its objects in
// place), so the deleting destructors that virtual classes emit are never called: operator delete is
// there for the vtables only. A pure virtual call is a bug: stop where a debugger shows it.
#include <cstddef>

void operator delete(void *) noexcept {}
void operator delete(void *, std::size_t) noexcept {}

extern "C" void __cxa_pure_virtual() {
    for (;;) {
    }
}

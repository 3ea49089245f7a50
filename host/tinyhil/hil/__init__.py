"""Hardware in the loop: board profiles (boards), firmware builds (firmware, firmware_trees), the runners that
reach a board or an emulator (runners), the serial protocol (protocol), the device under test (dut), what a
measurement is (measurement), measuring a model (bench), the bench self-test (doctor, checks), CPU faults
(faults) and files for a board without a probe (artifacts)."""

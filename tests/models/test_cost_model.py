import torch

from tinyhil.spec.cost import estimate, spec_graph
from tinyhil.ml.model import build_torch
from tinyhil.spec.space import ArchSpec

from .test_torch_keras_parity import NEW_SPECS, SPECS


def _hook_macs(model, x):
    total = 0

    def conv_hook(module, inputs, output):
        nonlocal total
        per_output = module.weight[0].numel()  # (cin / groups) * k * k
        total += output.numel() // output.shape[0] * per_output

    def linear_hook(module, inputs, output):
        nonlocal total
        total += module.in_features * module.out_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return total


def test_analytic_macs_and_params_equal_the_torch_model():
    for spec_dict in SPECS + NEW_SPECS:
        spec = ArchSpec.from_dict(spec_dict)
        model = build_torch(spec, 3, 10)
        cost = estimate(spec, (32, 32, 3), 10)
        assert cost.macs == _hook_macs(model, torch.zeros(1, 3, spec.resolution, spec.resolution))
        assert cost.params == sum(p.numel() for p in model.parameters())


def test_peak_memory_comes_from_the_runtime_planner():
    from tinyhil.codegen.planner import plan_memory

    spec = ArchSpec.from_dict(SPECS[0])
    graph, _ = spec_graph(spec, (32, 32, 3), 10)
    assert estimate(spec, (32, 32, 3), 10).peak_activation_bytes == plan_memory(graph).arena_bytes
    assert {op.opcode for op in graph.operators} == {"PAD", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN",
                                                     "FULLY_CONNECTED"}


def _tflite_ops(blob: bytes) -> list[tuple[str, tuple[int, ...]]]:
    """(opcode, output shape) of each operator of a .tflite, in execution order, read with the schema package."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(blob, 0)
    graph = model.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        shape = tuple(int(d) for d in graph.Tensors(op.Outputs(0)).ShapeAsNumpy())
        ops.append((names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())], shape))
    return ops


def test_cost_graph_has_the_exported_ops_in_the_exported_order():
    """SE, LeakyReLU, hard-swish and projection shortcuts: the planner sees the graph the converter writes."""
    from tinyhil.ml.export import convert_int8

    spec = ArchSpec.from_dict(NEW_SPECS[0])
    torch.manual_seed(0)
    blob = convert_int8(build_torch(spec, 3, 10).eval(), spec, torch.randn(8, 3, 32, 32))
    graph, _ = spec_graph(spec, (32, 32, 3), 10)
    expected = [(op.opcode, tuple(graph.tensors[op.outputs[0]].shape)) for op in graph.operators]
    assert _tflite_ops(blob) == expected
    assert {"MUL", "LOGISTIC", "LEAKY_RELU", "HARD_SWISH"} <= {name for name, _ in expected}


def test_each_choice_adds_exactly_the_operators_the_space_says_it_needs():
    """space.CHOICE_OPS (what runnable_with drops choices by) agrees with the cost graph."""
    from tinyhil.spec.space import CHOICE_OPS

    plain = ArchSpec.from_dict(SPECS[1])
    base = {op.opcode for op in spec_graph(plain, (32, 32, 3), 10)[0].operators}
    for (key, value), needed in CHOICE_OPS.items():
        spec_dict = {**SPECS[1], "stages": [{**SPECS[1]["stages"][0], key: value}]}
        ops = {op.opcode for op in spec_graph(ArchSpec.from_dict(spec_dict), (32, 32, 3), 10)[0].operators}
        assert ops - base == needed - base and needed <= ops, (key, value)

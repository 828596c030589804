"""Our GGUF dequantization equals gguf-py's `gguf.quants.dequantize` bit for bit: on the real SmolLM2 file, on
tensors quantized by gguf-py, and on random block bytes for every supported type (random bytes exercise every
bit of every field; both implementations must agree on each)."""
import zlib

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q, GGML_QUANT_SIZES, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from ggufref import assert_bits_equal, ts_dump

SUPPORTED = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


def test_type_table_matches_gguf_py(tmp_path):
    write_gguf(tmp_path / "one.gguf", {"one.weight": (np.ones((2, 32), np.float32), None)})
    _, types = ts_dump(tmp_path / "one.gguf", tmp_path / "x.bin")
    ours = {t["name"]: (t["id"], t["blockSize"], t["typeSize"]) for t in types}
    for qt, (block, size) in GGML_QUANT_SIZES.items():
        # gguf-py keeps Q8_1's old 40-byte size (float d, s); ggml's block_q8_1 has had half d, s (36) since 2024.
        # Q8_1 only exists inside ggml's matmul, never in files.
        if qt.name in ours and qt.name != "Q8_1":
            assert ours[qt.name] == (qt.value, block, size), qt.name
    assert set(SUPPORTED) <= set(ours)


def test_real_smollm2_file_every_tensor(tmp_path, real_gguf):
    reader = GGUFReader(real_gguf)
    ours, _ = ts_dump(real_gguf, tmp_path / "real.bin")
    types = set()
    assert len(ours) == len(reader.tensors) == 272
    for t in reader.tensors:
        typ, values, _ = ours[t.name]
        assert typ == t.tensor_type.name
        types.add(typ)
        assert_bits_equal(values, dequantize(t.data, t.tensor_type), t.name)
    assert types == {"F32", "Q4_1", "Q8_0"}


def write_gguf(path, tensors):
    w = GGUFWriter(str(path), "llama")
    for name, (arr, qtype) in tensors.items():
        w.add_tensor(name, arr, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # random scales include inf and NaN
@pytest.mark.parametrize("qname", SUPPORTED)
def test_random_blocks_and_quantized_weights(tmp_path, qname):
    qtype = Q[qname]
    block, size = GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(zlib.crc32(qname.encode()))
    tensors = {}
    # Random bytes: rows of 512 values (whole blocks for every type), 6 rows.
    n_blocks_row = 512 // block
    raw = rng.integers(0, 256, size=(6, n_blocks_row * size), dtype=np.uint8)
    tensors["random.weight"] = (raw, qtype)
    # Real-valued weights quantized by gguf-py where it can.
    w = (rng.standard_normal((4, 512)) * 0.05).astype(np.float32)
    w[0, :7] = [0, -0.0, 1e-8, -3.0, 65504.0, 1e-3, 2.5]
    try:
        tensors["quantized.weight"] = (quantize(w, qtype), qtype)
    except NotImplementedError:
        pass
    write_gguf(tmp_path / "t.gguf", tensors)
    ours, _ = ts_dump(tmp_path / "t.gguf", tmp_path / "t.bin")
    reader = GGUFReader(tmp_path / "t.gguf")
    assert {t.name for t in reader.tensors} == set(ours)
    for t in reader.tensors:
        typ, values, _ = ours[t.name]
        assert typ == qname
        ref = dequantize(t.data, t.tensor_type)
        assert ref.size == values.size
        assert_bits_equal(values, ref, f"{t.name} ({qname})")

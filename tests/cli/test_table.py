import json

from mlvgm.cli.main import main


def _report(name, clean, robust):
    return {
        "dataset": "d",
        "n_images": 10,
        "eot": 4,
        "attacks": ["apgd-ce"],
        "bounds": [0.5, 1.0],
        "defenses": {name: {"clean_accuracy": clean, "robust_accuracy": robust}},
    }


def test_table_joins_reports_into_markdown_and_csv(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report("undefended", 0.98, {"0.5": 0.8, "1.0": 0.1})))
    b.write_text(json.dumps(_report("mlvgm-cosine", 0.93, {"0.5": 0.9, "1.0": 0.7})))
    assert main(["table", str(a), str(b), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t.md").read_text()
    assert "| mlvgm-cosine | 93.0 | 90.0 | 70.0 |" in md
    assert (tmp_path / "t.csv").read_text().splitlines()[1].startswith("undefended,98.0,80.0")


def test_table_of_a_non_report_fails(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    assert main(["table", str(p)]) == 1
    assert "neither an mlvgm report.json nor a probe.json" in capsys.readouterr().err


def _probe(name, kind, test, perturbation=None, mode="continuous"):
    source = {"kind": kind, "mode": mode, "augment": "simclr", "batch_size": 256}
    source["batches_per_epoch"] = 15
    source["perturbation"] = perturbation or {"kind": "none", "variables": None}
    return {
        "method": "simclr",
        "test_accuracy": test,
        "val_accuracy": test + 0.01,
        "n_images": {"train": 4000, "val": 500, "test": 500},
        "ssl_run": {
            "name": name,
            "epochs": 10,
            "world_size": 1,
            "source": source,
            "model": {"widths": [32, 64, 128]},
        },
    }


def test_table_of_linear_probes_lists_views_and_pairs_seen(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_probe("real-simclr", "real", 0.912)))
    pert = {"kind": "gaussian", "std": [0.1, 1.0], "variables": None}
    b.write_text(json.dumps(_probe("per-group", "generated", 0.9, pert, mode="offline")))
    assert main(["table", str(a), str(b), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t.md").read_text().splitlines()
    assert (
        md[2]
        == "| real-simclr | simclr | real | - | simclr | 38400 | 91.2 | 92.2 | ResNet 32/64/128 |"
    )
    assert "| generated (offline) | gaussian std 0.1/1, all groups |" in md[3]


def test_table_refuses_mixed_kinds(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report("undefended", 0.98, {"0.5": 0.8, "1.0": 0.1})))
    b.write_text(json.dumps(_probe("real", "real", 0.9)))
    assert main(["table", str(a), str(b)]) == 1
    assert "not both in one table" in capsys.readouterr().err

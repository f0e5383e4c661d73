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
    assert "not an mlvgm report" in capsys.readouterr().err

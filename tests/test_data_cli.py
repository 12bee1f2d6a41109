"""``python -m gan_course data …`` through the real dispatcher."""

import pytest

from gan_course.cli import main


@pytest.mark.parametrize("argv", [["data", "--help"], ["data", "toy", "--help"],
                                  ["data", "fetch", "--help"], ["data", "prepare", "--help"],
                                  ["data", "check", "--help"], ["data", "cache", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0 and "usage:" in capsys.readouterr().out


def test_toy_prepare_check_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    assert main(["data", "toy", "all", "--n", "12", "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "toy celeba:" in out and "toy fashion_mnist:" in out
    assert (tmp_path / "toy" / "celeba" / "n12-32px" / "list_attr_celeba.csv").is_file()
    assert main(["data", "prepare", "eyeglasses", "--n", "12", "--size", "32"]) == 0
    assert "12 new files" in capsys.readouterr().out
    assert main(["data", "prepare", "eyeglasses", "--n", "12", "--size", "32"]) == 0
    assert "0 new files" in capsys.readouterr().out
    assert main(["data", "check", "anime", str(tmp_path / "toy" / "anime" / "n12-32px")]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["data", "cache", "eyeglasses", "--n", "12", "--size", "32"]) == 0
    assert "ImageCache(12 images 32x32" in capsys.readouterr().out


def test_errors_are_one_line_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path))
    assert main(["data", "check", "celeba", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "does not exist" in err
    monkeypatch.setattr("gan_course.data.sources.network_available", lambda *a, **k: False)
    assert main(["data", "fetch", "anime"]) == 1
    assert "data check anime" in capsys.readouterr().err


def test_data_readme_commands_are_copy_pasteable(capsys):
    """Every ``python -m gan_course ...`` in data/README.md parses as it stands: no placeholder,
    no missing argument."""
    import re
    import shlex
    from pathlib import Path

    from gan_course.cli import build_parser

    text = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text()
    commands = re.findall(r"`(python -m gan_course [^`]+)`", text)
    commands += [line.split(" #")[0] for line in text.splitlines()
                 if line.startswith("python -m gan_course ")]
    for command in commands:
        argv = shlex.split(command)[3:]
        assert not any("<" in a or ">" in a for a in argv), command
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"data/README.md: `{command}` does not parse: {capsys.readouterr().err}")
    assert len(commands) >= 8

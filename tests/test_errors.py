import sys
import types

import pytest

from course_utils.errors import CourseError, install_friendly_errors


def test_message_and_fix():
    err = CourseError("No GPU.", fix="switch the runtime")
    assert isinstance(err, RuntimeError)
    assert str(err) == "No GPU.\nFix: switch the runtime"
    assert (err.message, err.fix) == ("No GPU.", "switch the runtime")


def test_message_without_fix():
    err = CourseError("Bad input.")
    assert str(err) == "Bad input."
    assert err.fix is None


def test_outside_ipython_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    install_friendly_errors()  # must not import IPython just to find out
    assert "IPython" not in sys.modules


def test_ipython_imported_but_no_shell(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    install_friendly_errors()  # plain python that merely imported IPython: nothing to register


def test_registers_handler_idempotently(monkeypatch):
    calls = []
    shell = types.SimpleNamespace(
        set_custom_exc=lambda excs, handler: calls.append((excs, handler))
    )
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    install_friendly_errors()
    install_friendly_errors()
    assert len(calls) == 2 and calls[0] == calls[1]
    assert calls[0][0] == (CourseError,)


@pytest.fixture
def ipython_shell(tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def test_real_ipython_shows_one_block(ipython_shell, capsys):
    install_friendly_errors()
    result = ipython_shell.run_cell(
        "from course_utils.errors import CourseError\n"
        "raise CourseError('No GPU here.', fix='switch the runtime')"
    )
    out = capsys.readouterr()
    text = out.out + out.err
    assert "CourseError: No GPU here.\nFix: switch the runtime" in text
    assert "Traceback" not in text and "raise CourseError" not in text
    assert isinstance(result.error_in_exec, CourseError)  # the cell still counts as failed


def test_real_ipython_other_errors_keep_traceback(ipython_shell, capsys):
    install_friendly_errors()
    ipython_shell.run_cell("1 / 0")
    out = capsys.readouterr()
    assert "ZeroDivisionError" in out.out + out.err
    assert "Traceback" in out.out + out.err

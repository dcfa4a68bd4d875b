from csvstats.cli import main


def write(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return str(path)


def test_summary(tmp_path, capsys):
    path = write(tmp_path, "price\n1\n2\n3\n4\n")
    assert main([path, "--column", "price"]) == 0
    assert capsys.readouterr().out == "count: 4\nmean: 2.50\nmedian: 2.50\n"


def test_missing_column(tmp_path, capsys):
    path = write(tmp_path, "price\n1\n")
    assert main([path, "--column", "cost"]) == 2
    assert capsys.readouterr().err == "error: no column 'cost'\n"


def test_no_values(tmp_path, capsys):
    path = write(tmp_path, "price\n\n")
    assert main([path, "--column", "price"]) == 1

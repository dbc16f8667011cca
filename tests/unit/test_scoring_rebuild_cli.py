"""``python -m services.scoring rebuild``'s arguments: what it may be told to drop."""

import pytest

from services.scoring.__main__ import main


class TestRebuildSchema:
    @pytest.mark.parametrize(
        "schema", ["scoring", "scoring_previous", "coupons", "public", "scoring_x; DROP"]
    )
    def test_a_schema_it_must_not_drop_is_refused_before_anything_runs(
        self, schema: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["rebuild", "--schema", schema])
        assert exited.value.code == 2
        assert "not a rebuild schema" in capsys.readouterr().err

    def test_a_batch_size_under_one_is_refused(self) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["rebuild", "--batch-size", "0"])
        assert exited.value.code == 2

from powertools_sts import STSProvider

from ..conftest import ROLE


def test_fetch_then_hit(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE)
    assert provider.get(ROLE) is first
    assert moto_sts.assume_role_calls == 1

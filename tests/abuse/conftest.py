import pytest


@pytest.fixture
def system(api):
    return api

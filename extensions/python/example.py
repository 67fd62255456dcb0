"""The original broker's Test echo, as a Python 3 module: `bpclient execute --method example.Test --data hello`
answers the parameters it was sent. Install: `bpbroker install-extension --script extensions/python/example.py`
(it provides the same namespace as extensions/example.mjs: install one of them)."""
import json


def Test(rh):
    """Echo source host and querystring back in response."""
    # A successful return is clean and looks like this:
    rh.data = json.dumps(dict(rh.qs, src=rh.RequestingHost()))
    # Were you to choose an errored response you may set the following:
    # rh.status = 500
    # rh.status_message = "End client visible message text explaining 500 error"


def _helper(rh):
    """Private: names starting with _ are not callable (401 Unauthorized method)."""
    return "not callable"

"""CURVE through the Python binding against the real htgad: a Client given
htgad's public key and its own key file (as `htga keygen` writes it) is
served; one without keys is refused, and both ends count the refusal."""

import os
import tempfile
import unittest

import support

import htga
import zmq

BLOCK = 1024


def key_file(path):
    """A key pair in the `htga keygen` format; returns the public key."""
    public, secret = zmq.curve_keypair()
    with open(path, "w") as f:
        f.write("# test key pair\npublic %s\nsecret %s\n" % (public.decode(), secret.decode()))
    os.chmod(path, 0o600)
    return public.decode()


class TestCurve(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.server_pub = key_file(os.path.join(d, "server.key"))
        self.client_key = os.path.join(d, "client.key")
        client_pub = key_file(self.client_key)
        with open(os.path.join(d, "clients"), "w") as f:
            f.write("public %s\n" % client_pub)
        self.daemon = support.Daemon("--curve-key-file", os.path.join(d, "server.key"),
                                     "--curve-clients", os.path.join(d, "clients"),
                                     block_samples=BLOCK)

    def tearDown(self):
        self.daemon.close()
        self.tmp.cleanup()

    def blocks(self, run):
        return self.daemon.rows("SELECT count(*) FROM estimates WHERE run = ?", run)[0][0]

    def test_client_with_keys_is_served(self):
        import numpy as np

        with htga.Client(self.daemon.endpoint, "py-keyed", curve_server_key=self.server_pub,
                         curve_key_file=self.client_key) as c:
            c.send("w", 0, np.random.default_rng(1).standard_t(3, BLOCK).astype(np.float32))
            self.assertTrue(support.wait_for(lambda: self.blocks("py-keyed") == 1, 10))
            self.assertTrue(support.wait_for(lambda: c.lambda_get("w") is not None, 5))

    def test_client_without_keys_is_refused_and_counted(self):
        import numpy as np

        with htga.Client(self.daemon.endpoint, "py-plain") as c:
            self.assertTrue(support.wait_for(lambda: c.stats()["auth_failures"] >= 1, 10),
                            "the client counts the refused handshake")
            c.send("w", 0, np.ones(BLOCK, dtype=np.float32))
        self.assertEqual(self.blocks("py-plain"), 0)

    def test_malformed_key_is_an_error(self):
        with self.assertRaises(htga.HtgaError):
            htga.Client(self.daemon.endpoint, "py-bad", curve_server_key="not a key")


if __name__ == "__main__":
    unittest.main()

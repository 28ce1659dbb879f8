"""Signing cores against the published vectors (V1, V3, Z1) and labelled derived fixtures."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from providers.momo import signature as momo_sig
from providers.vnpay import signature as vnp_sig
from providers.zalopay import signature as zlp_sig

# V1 — published: lehuygiang28/vnpay test/__helpers__/test-fixtures.ts (DEFAULT_RETURN_QUERY_INPUT).
V1_SECRET = "test_secret"
V1_PARAMS = {
    "vnp_Amount": "1000000",
    "vnp_BankCode": "NCB",
    "vnp_BankTranNo": "VNP14422574",
    "vnp_CardType": "ATM",
    "vnp_OrderInfo": "Thanh toan don hang 2024-05-21T02:17:31.249Z",
    "vnp_PayDate": "20240521091806",
    "vnp_ResponseCode": "00",
    "vnp_TmnCode": "TEST_TMN_CODE",
    "vnp_TransactionNo": "14422574",
    "vnp_TransactionStatus": "00",
    "vnp_TxnRef": "1716257871703",
}
V1_CANONICAL = (
    "vnp_Amount=1000000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14422574&vnp_CardType=ATM"
    "&vnp_OrderInfo=Thanh+toan+don+hang+2024-05-21T02%3A17%3A31.249Z&vnp_PayDate=20240521091806"
    "&vnp_ResponseCode=00&vnp_TmnCode=TEST_TMN_CODE&vnp_TransactionNo=14422574"
    "&vnp_TransactionStatus=00&vnp_TxnRef=1716257871703"
)
V1_HASH = (
    "649982421beb422556a1374713c74e58e716ecbd05007c0c0e1f7effdfaf361d"
    "bf146889ca446139afe11b9954c4d5c486e99e3b86fcfab6957f29eb0be72895"
)
# V3 — published: lehuygiang28/vnpay test/unit/utils/payment-util.test.ts ("vnp_TnxRef" sic).
V3_SECRET = "YOUR_SECURE_SECRET"
V3_DATA = "vnp_Amount=10000&vnp_OrderInfo=Payment+for+order+%231234567890&vnp_TnxRef=1234567890"
V3_HASH = (
    "7bb8160a5d2085a85b3267817a40ee4f770a335282f19714726e6fc6f28a64c7"
    "5a1e7e9c1aa96f3cbda5ce44095088fb4cb2af66c596d2f655b0b53966312089"
)
# Z1 — published: ZaloPay callback spec sample, https://docs.zalopay.vn/docs/specs/callback-api
Z1_KEY1 = "PcY4iZIKFCIdgZvA6ueMcMHHUbRLYjPL"
Z1_KEY2 = "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz"
Z1_DATA = (
    '{"app_id":2553,"app_trans_id":"200904_2553_1598435687208","app_time":1599189392817,'
    '"app_user":"demo","amount":10000,"embed_data":"{\\"merchantinfo\\":\\"embeddata123\\",'
    '\\"promotioninfo\\":\\"\\"}","item":"[{\\"itemid\\":\\"knb\\",\\"itemname\\":\\"kim nguyen bao\\",'
    '\\"itemprice\\":198400,\\"itemquantity\\":1}]","zp_trans_id":200904000000389,'
    '"server_time":1599189413498,"channel":38,"merchant_user_id":"7ZMSl3nEg5sOUJzOLSoUFT8xKNQVaLOLXHB--8Eytqc",'
    '"user_fee_amount":0,"discount_amount":0}'
)
Z1_MAC = "d8d33baf449b31d7f9b94fa50d7c942c08cd4d83f28fa185557da21acb104f67"


def test_vnpay_canonical_query_v1_matches_published_string():
    assert vnp_sig.canonical_query(V1_PARAMS) == V1_CANONICAL


def test_vnpay_sign_params_v1_matches_published_hash():
    assert vnp_sig.sign_params(V1_SECRET, V1_PARAMS) == V1_HASH


def test_vnpay_verify_params_v1_decoded_from_query_string_passes():
    # Round trip through a received query string: verify on decoded values, re-encoded.
    received = dict(parse_qsl(f"{V1_CANONICAL}&vnp_SecureHash={V1_HASH.upper()}", keep_blank_values=True))
    assert vnp_sig.verify_params(V1_SECRET, received)


@pytest.mark.parametrize(
    "tamper",
    [
        {"vnp_Amount": "1000100"},
        {"vnp_SecureHash": V1_HASH[:-1] + "0"},
        {"vnp_SecureHash": ""},
        {"vnp_TmnCode": "OTHER"},
    ],
)
def test_vnpay_verify_params_v1_tampered_fails(tamper):
    assert not vnp_sig.verify_params(V1_SECRET, {**V1_PARAMS, "vnp_SecureHash": V1_HASH, **tamper})


def test_vnpay_verify_params_v1_wrong_secret_fails():
    assert not vnp_sig.verify_params("other_secret", {**V1_PARAMS, "vnp_SecureHash": V1_HASH})


def test_vnpay_canonical_query_ignores_hash_fields_and_empty_values():
    params = {**V1_PARAMS, "vnp_SecureHashType": "SHA512", "vnp_BankCode": "", "other": "x"}
    assert "vnp_BankCode" not in vnp_sig.canonical_query(params)
    assert "SecureHashType" not in vnp_sig.canonical_query(params)
    assert "other" not in vnp_sig.canonical_query(params)


def test_vnpay_hmac_sha512_v3_matches_published_hash():
    assert vnp_sig.hmac_sha512(V3_SECRET, V3_DATA) == V3_HASH


def test_vnpay_php_urlencode_tilde_and_specials_match_php():
    # PHP urlencode row of the encoder-divergence table in the reference.
    assert vnp_sig.php_urlencode("Le phi (HS-01)! ~x*") == "Le+phi+%28HS-01%29%21+%7Ex%2A"


def test_vnpay_pipe_hash_querydr_regression_fixture():
    # computed from the published algorithm (not a provider-published value)
    values = ["REQ1", "2.1.0", "querydr", "TMNCODE1", "FG7K3M9Q2XAB", "20261126190000",
              "20261126193000", "127.0.0.1", "Truy van FG7K3M9Q2XAB"]  # fmt: skip
    assert vnp_sig.pipe_hash("SECRET", values) == (
        "b08036b72fbb674100f443bfe6129293f5254e1f040c8435b9ddc7bd02342486"
        "b78b156d2d561117c54321fbe52e196e7405adea12617198cd7f291175f2af28"
    )


def test_vnpay_verify_pipe_hash_one_field_changed_fails():
    values = ["REQ1", "2.1.0", "querydr", "TMNCODE1"]
    good = vnp_sig.pipe_hash("SECRET", values)
    assert vnp_sig.verify_pipe_hash("SECRET", values, good.upper())
    assert not vnp_sig.verify_pipe_hash("SECRET", ["REQ1", "2.1.0", "querydr", "TMNCODE2"], good)
    assert not vnp_sig.verify_pipe_hash("SECRET", values, "")


def test_zalopay_callback_mac_z1_matches_published_mac():
    assert zlp_sig.mac(Z1_KEY2, Z1_DATA) == Z1_MAC
    assert zlp_sig.verify_callback(Z1_KEY2, Z1_DATA, Z1_MAC)


def test_zalopay_callback_mac_z1_with_key1_fails():
    assert not zlp_sig.verify_callback(Z1_KEY1, Z1_DATA, Z1_MAC)


def test_zalopay_callback_mac_z1_reserialised_data_fails():
    # The MAC covers the exact bytes; a re-serialisation (here: with spaces) must not verify.
    import json

    assert not zlp_sig.verify_callback(Z1_KEY2, json.dumps(json.loads(Z1_DATA)), Z1_MAC)


def test_momo_raw_signature_create_uses_published_field_order():
    values = {
        "partnerCode": "MOMO", "requestId": "FG7K3M9Q2XAB", "amount": 50000.0, "orderId": "FG7K3M9Q2XAB",
        "orderInfo": "Le phi HS-01", "redirectUrl": "http://127.0.0.1/r", "ipnUrl": "http://127.0.0.1/i",
        "requestType": "captureWallet", "extraData": "",
    }  # fmt: skip
    assert momo_sig.raw_signature(momo_sig.CREATE_FIELDS, values, "F8BBA842ECF85") == (
        "accessKey=F8BBA842ECF85&amount=50000&extraData=&ipnUrl=http://127.0.0.1/i&orderId=FG7K3M9Q2XAB"
        "&orderInfo=Le phi HS-01&partnerCode=MOMO&redirectUrl=http://127.0.0.1/r&requestId=FG7K3M9Q2XAB"
        "&requestType=captureWallet"
    )


def test_momo_sign_create_sandbox_keys_regression_fixture():
    # computed from the published algorithm (not a provider-published value), with MoMo's
    # public sandbox keys from momo-wallet/payment.
    values = {
        "partnerCode": "MOMO", "requestId": "FG7K3M9Q2XAB", "amount": 50000, "orderId": "FG7K3M9Q2XAB",
        "orderInfo": "Le phi HS-01", "redirectUrl": "http://127.0.0.1/r", "ipnUrl": "http://127.0.0.1/i",
        "requestType": "captureWallet", "extraData": "",
    }  # fmt: skip
    signed = momo_sig.sign(
        "K951B6PE1waDMi640xX08PD3vg6EkVlz", momo_sig.CREATE_FIELDS, values, "F8BBA842ECF85"
    )
    assert signed == "58a90801008804ebda1d2971baf64b0c1759c9fe035010fd2967dce3ebb5aae7"


def test_momo_verify_ipn_amount_changed_fails():
    values = {"partnerCode": "MOMO", "orderId": "FG7K3M9Q2XAB", "requestId": "FG7K3M9Q2XAB",
              "amount": 50000, "orderInfo": "x", "orderType": "momo_wallet", "transId": 4088878653,
              "resultCode": 0, "message": "Successful.", "payType": "qr", "responseTime": 1721720663942,
              "extraData": ""}  # fmt: skip
    signed = {**values, "signature": momo_sig.sign("SK", momo_sig.IPN_FIELDS, values, "AK")}
    assert momo_sig.verify("SK", momo_sig.IPN_FIELDS, signed, "AK")
    assert not momo_sig.verify("SK", momo_sig.IPN_FIELDS, {**signed, "amount": 50001}, "AK")
    assert not momo_sig.verify("SK", momo_sig.IPN_FIELDS, {**signed, "signature": None}, "AK")


def test_momo_render_json_numbers_as_plain_integers():
    assert momo_sig.render(1000.0) == "1000"
    assert momo_sig.render(None) == ""
    assert momo_sig.render(4088878653) == "4088878653"


def test_zalopay_create_mac_sandbox_keys_regression_fixture():
    # computed from the published algorithm (not a provider-published value), sandbox app 2553.
    mac = zlp_sig.create_mac(
        Z1_KEY1, "2553", "261126_FG7K3M9Q2XAB", "feegate", 50000, 1795694400000, "{}", "[]"
    )
    assert mac == "10e246db1c72a04e2a33416d643bfc41b3f8b15b14983fb070204a68fab8babd"


def test_zalopay_query_mac_includes_key1_in_data():
    # computed from the published algorithm (not a provider-published value)
    assert zlp_sig.query_mac(Z1_KEY1, "2553", "261126_FG7K3M9Q2XAB") == (
        "83080314f4c4476d90cfbd929a8b5086897bcf2c2663699d522e2fe8b0a6c143"
    )

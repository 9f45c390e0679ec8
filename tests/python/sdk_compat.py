"""Huawei's official Python SDK (huaweicloudsdkgsl, AK/SK credentials) against the simulator.

Run by run.sh, which starts `gslbatch simulate` and exports GSL_SIM_URL, GSL_SIM_AK, GSL_SIM_SK.
Every call below must parse into the SDK's own response models; a wrong SK must come back as a
401 ClientRequestException with APIG.0301.
"""

import datetime
import os
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkgsl.v3 import (
    CreateSendSmsReq,
    CutNetReq,
    DeleteRealNameRequest,
    DownUpTimeForSimCardReq,
    EnableSimCardRequest,
    ExceedCutNetReq,
    GslClient,
    ListFlowBySimCardsReq,
    ListFlowBySimCardsRequest,
    RegisterImeiReq,
    RegisterImeiRequest,
    ResetSimCardRequest,
    SetExceedCutNetRequest,
    SetSpeedValueReq,
    SetSpeedValueRequest,
    StartStopNetRequest,
    StopSimCardRequest,
    ListSimCardsRequest,
    ListSimPoolMembersRequest,
    ListSmsDetailsRequest,
    ListWorkOrderDetailsRequest,
    ListWorkOrdersRequest,
    SendSmsRequest,
    ShowRealNamedRequest,
)

ENDPOINT = os.environ["GSL_SIM_URL"]
AK = os.environ["GSL_SIM_AK"]
SK = os.environ["GSL_SIM_SK"]
PROJECT_ID = "0123456789abcdef0123456789abcdef"


def client(sk):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    return (
        GslClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(AK, sk, PROJECT_ID))
        .with_endpoints([ENDPOINT])
        .build()
    )


def main():
    gsl = client(SK)

    cards = gsl.list_sim_cards(ListSimCardsRequest(limit=100, offset=1))
    assert cards.count == 200, cards.count
    assert len(cards.sim_cards) == 100
    first = cards.sim_cards[0]
    assert first.iccid and first.sim_card_id and isinstance(first.real_named, bool)
    print(f"list_sim_cards: count={cards.count}, first={first.iccid}")

    unnamed = gsl.list_sim_cards(ListSimCardsRequest(limit=500, offset=1, real_named=False))
    assert all(c.real_named is False for c in unnamed.sim_cards), "real_named filter ignored"
    print(f"list_sim_cards(real_named=False): count={unnamed.count}")

    # China Telecom (898603/898611) cards can be cleared; pick one with an SMS plan for SMS too.
    telecom = [c for c in cards.sim_cards if c.iccid[:6] in ("898603", "898611")]
    assert telecom, "no China Telecom card in the first page"
    card = telecom[0]

    by_id = gsl.show_real_named(ShowRealNamedRequest(sim_card_id=card.sim_card_id))
    assert by_id.iccid == card.iccid and isinstance(by_id.real_named, bool)
    by_iccid = gsl.show_real_named(ShowRealNamedRequest(sim_card_id=0, iccid=card.iccid))
    assert by_iccid.iccid == card.iccid
    print(f"show_real_named: {by_iccid.iccid} real_named={by_iccid.real_named}")

    cleared = gsl.delete_real_name(DeleteRealNameRequest(sim_card_id=0, iccid=card.iccid))
    assert cleared.work_order_id >= 1000001, cleared.work_order_id
    print(f"delete_real_name: work_order_id={cleared.work_order_id}")

    details = gsl.list_work_order_details(
        ListWorkOrderDetailsRequest(work_order_id=cleared.work_order_id, limit=10, offset=1)
    )
    assert details.count == 1 and details.work_order_details[0].cid == card.iccid
    print(f"list_work_order_details: status={details.work_order_details[0].status}")
    orders = gsl.list_work_orders(ListWorkOrdersRequest(limit=10, offset=1, work_order_type=14))
    assert orders.count >= 1 and orders.work_orders[0].work_order_type == 14
    print(f"list_work_orders: count={orders.count}")

    # SMS to every card of the first card's order that can receive one: the order_id form.
    sent = gsl.send_sms(
        SendSmsRequest(body=CreateSendSmsReq(sms_content="gslbatch sdk check", order_id=card.order_id))
    )
    # The API answers a bare JSON `true`; the SDK models the body as a string, so `sent.body`
    # stays None. What matters is the 200.
    assert sent.status_code == 200, sent.status_code
    print(f"send_sms: status={sent.status_code} body={sent.body!r}")
    sms = gsl.list_sms_details(ListSmsDetailsRequest(limit=10, offset=1))
    assert sms.count >= 1, sms.count
    assert isinstance(sms.sms_details[0].sent_time, (datetime.datetime, str))
    print(f"list_sms_details: count={sms.count}")

    pool_card = next(c for c in cards.sim_cards if c.sim_pool_id)
    cycle = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    members = gsl.list_sim_pool_members(
        ListSimPoolMembersRequest(sim_pool_id=pool_card.sim_pool_id, billing_cycle=cycle, limit=10, offset=1)
    )
    assert members.count >= 1 and members.pool_members[0].cid
    print(f"list_sim_pool_members: pool={pool_card.sim_pool_id} count={members.count}")
    try:
        gsl.list_sim_pool_members(
            ListSimPoolMembersRequest(sim_pool_id=pool_card.sim_pool_id, billing_cycle="2999-01")
        )
        raise AssertionError("a future billing cycle was served")
    except ClientRequestException as e:
        assert e.status_code == 403 and e.error_code == "GSL.00011004", (e.status_code, e.error_code)

    card_state(gsl, cards.sim_cards)

    try:
        client("not-the-secret").list_sim_cards(ListSimCardsRequest(limit=10, offset=1))
        raise AssertionError("a wrong SK was accepted")
    except ClientRequestException as e:
        assert e.status_code == 401, e.status_code
        assert e.error_code == "APIG.0301", e.error_code
        print(f"wrong SK: {e.status_code} {e.error_code}")

    print("sdk_compat: all checks passed")
    return 0


def wait_done(gsl, work_order_id):
    """The work order's detail, once it left processing (the simulator runs them in 0.5 s)."""
    for _ in range(50):
        d = gsl.list_work_order_details(
            ListWorkOrderDetailsRequest(work_order_id=work_order_id, limit=10, offset=1)
        ).work_order_details[0]
        if d.status != 2:
            return d
        time.sleep(0.1)
    raise AssertionError(f"work order {work_order_id} still processing")


def card_of(gsl, iccid):
    page = gsl.list_sim_cards(ListSimCardsRequest(limit=10, offset=1, main_search_type=1, main_search_key=iccid))
    assert page.count == 1, page.count
    return page.sim_cards[0]


def card_state(gsl, first_page):
    """Every card-state endpoint and the usage query, each through the SDK's own models; each
    work order must be of its documented type and change the card the card list shows."""
    telecom = [c for c in first_page if c.iccid[:6] in ("898603", "898611")]
    in_use = next(c for c in telecom if c.sim_status == 20)
    by_type = {}

    stopped = gsl.stop_sim_card(StopSimCardRequest(sim_card_id=0, body=DownUpTimeForSimCardReq(iccid=in_use.iccid)))
    by_type[5] = stopped.work_order_id
    wait_done(gsl, stopped.work_order_id)
    assert card_of(gsl, in_use.iccid).sim_status == 14
    reset = gsl.reset_sim_card(ResetSimCardRequest(sim_card_id=in_use.sim_card_id, body=DownUpTimeForSimCardReq()))
    by_type[4] = reset.work_order_id
    wait_done(gsl, reset.work_order_id)
    assert card_of(gsl, in_use.iccid).sim_status == 20
    print(f"stop_sim_card / reset_sim_card: {stopped.work_order_id}, {reset.work_order_id}")

    idle = next((c for c in first_page if c.sim_status in (11, 13)), None)
    if idle is not None:
        enabled = gsl.enable_sim_card(EnableSimCardRequest(sim_card_id=0, iccid=idle.iccid))
        by_type[10] = enabled.work_order_id
        wait_done(gsl, enabled.work_order_id)
        assert card_of(gsl, idle.iccid).sim_status == 20
        print(f"enable_sim_card: {enabled.work_order_id}")

    cut = gsl.start_stop_net(StartStopNetRequest(sim_card_id=in_use.sim_card_id, body=CutNetReq(action="ADD")))
    by_type[11] = cut.work_order_id
    wait_done(gsl, cut.work_order_id)
    assert card_of(gsl, in_use.iccid).cut_net_flag is True
    back = gsl.start_stop_net(StartStopNetRequest(sim_card_id=0, body=CutNetReq(action="DEL", iccid=in_use.iccid)))
    by_type[20] = back.work_order_id
    wait_done(gsl, back.work_order_id)
    assert card_of(gsl, in_use.iccid).cut_net_flag is False
    print(f"start_stop_net ADD / DEL: {cut.work_order_id}, {back.work_order_id}")

    speed = gsl.set_speed_value(SetSpeedValueRequest(sim_card_id=in_use.sim_card_id, body=SetSpeedValueReq(speed_value=1024)))
    by_type[15] = speed.work_order_id
    wait_done(gsl, speed.work_order_id)
    assert card_of(gsl, in_use.iccid).speed_value == 1024
    try:
        gsl.set_speed_value(SetSpeedValueRequest(sim_card_id=in_use.sim_card_id, body=SetSpeedValueReq(speed_value=7424)))
        raise AssertionError("a China Unicom speed was accepted for a China Telecom card")
    except ClientRequestException as e:
        assert e.status_code == 400 and e.error_code == "GSL.00010004", (e.status_code, e.error_code)
    print(f"set_speed_value: {speed.work_order_id}; 7424 Kbps refused on China Telecom")

    cap = gsl.set_exceed_cut_net(SetExceedCutNetRequest(sim_card_id=in_use.sim_card_id, body=ExceedCutNetReq(action=1, quota="500")))
    by_type[12] = cap.work_order_id
    wait_done(gsl, cap.work_order_id)
    shown = card_of(gsl, in_use.iccid)
    assert shown.exceed_cut_net_flag is True and shown.exceed_cut_net_quota == 500
    uncap = gsl.set_exceed_cut_net(SetExceedCutNetRequest(sim_card_id=in_use.sim_card_id, body=ExceedCutNetReq(action=2)))
    by_type[21] = uncap.work_order_id
    wait_done(gsl, uncap.work_order_id)
    assert card_of(gsl, in_use.iccid).exceed_cut_net_flag is False
    print(f"set_exceed_cut_net set / cancel: {cap.work_order_id}, {uncap.work_order_id}")

    bound = gsl.register_imei(RegisterImeiRequest(sim_card_id=0, body=RegisterImeiReq(bind_type=2, imei="860000000000011", iccid=in_use.iccid)))
    by_type[13] = bound.work_order_id
    wait_done(gsl, bound.work_order_id)
    shown = card_of(gsl, in_use.iccid)
    assert shown.imei == "860000000000011" and shown.imei_bind_remain_times == 1, (shown.imei, shown.imei_bind_remain_times)
    print(f"register_imei: {bound.work_order_id}")

    for wtype, wid in by_type.items():
        orders = gsl.list_work_orders(ListWorkOrdersRequest(limit=10, offset=1, work_order_type=wtype))
        assert any(o.id == wid and o.work_order_type == wtype for o in orders.work_orders), (wtype, wid)
    print(f"list_work_orders by type: {sorted(by_type)}")

    iccids = [c.iccid for c in first_page[:50]]
    usage = gsl.list_flow_by_sim_cards(ListFlowBySimCardsRequest(body=ListFlowBySimCardsReq(iccids=iccids)))
    assert len(usage.body) == 50, len(usage.body)
    u = usage.body[0]
    assert u.iccid == iccids[0] and u.flow_total >= u.flow_used >= 0 and u.price_plan_id
    try:
        gsl.list_flow_by_sim_cards(ListFlowBySimCardsRequest(body=ListFlowBySimCardsReq(iccids=[c.iccid for c in first_page[:51]])))
        raise AssertionError("51 cards in one usage query were answered")
    except ClientRequestException as e:
        assert e.status_code == 400, e.status_code
    print(f"list_flow_by_sim_cards: {len(usage.body)} cards, first used {u.flow_used} of {u.flow_total} MB")


if __name__ == "__main__":
    sys.exit(main())

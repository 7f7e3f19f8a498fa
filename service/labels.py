"""Chinese words for the libraries' states, roles, actions and kinds, as the pages and the
problem responses show them."""

from __future__ import annotations

WISH_STATES = {
    "submitted": "待审核",
    "published": "待认领",
    "claimed": "已认领",
    "in_service": "服务中",
    "served": "待评价",
    "disputed": "有异议",
    "confirmed": "已确认",
    "closed": "已办结",
    "rejected": "已驳回",
    "expired": "已过期",
    "cancelled": "已取消",
}
CLAIM_STATES = {
    "active": "已接单",
    "checked_in": "服务中",
    "checked_out": "已签退",
    "confirmed": "已确认",
    "withdrawn": "已退单",
    "no_show": "爽约",
    "voided": "已作废",
    "assigned": "已分配",
}
CORRECTION_STATES = {
    "pending": "待处理",
    "corrected": "已更正",
    "refused": "已驳回",
}
CORRECTION_FIELDS = {
    "minutes": "时长（分钟）",
    "served_on": "服务日期",
    "category": "服务类别",
}
ORDER_STATUS = {
    "reserved": "待领取",
    "fulfilled": "已领取",
    "cancelled": "已取消",
    "expired": "已过期",
}
ROLES = {
    "resident": "居民",
    "volunteer": "志愿者",
    "party_member": "党员",
    "grid_worker": "网格员",
    "staff": "社区工作人员",
    "unit_admin": "单位管理员",
    "admin": "管理员",
    "beneficiary": "受助居民",
    "poster": "发布人",
    "claimant": "认领人",
    "record_holder": "本人",
    "system": "系统",
    "whistler": "吹哨社区",
    "receiver": "受理部门",
    "handler": "承办单位",
}
ORG_KINDS = {
    "district": "区",
    "street": "街道",
    "community": "社区",
    "compound": "小区",
    "grid": "网格",
    "building": "楼栋",
    "unit": "单位",
}
ACTIONS = {
    "post": "点单",
    "verify": "审核通过",
    "reject": "驳回",
    "cancel": "取消",
    "claim": "认领",
    "claim_for_unit": "单位认领",
    "assign": "指派",
    "dispatch": "派单",
    "withdraw": "退单",
    "no_show": "爽约",
    "check_in": "报到",
    "check_out": "签退",
    "confirm": "确认评价",
    "dispute": "提出异议",
    "resolve_for_volunteer": "裁定：服务有效",
    "resolve_against_volunteer": "裁定：服务无效",
    "close": "办结",
    "settle": "状态更新",
    "expire": "过期",
    "escalate": "吹哨上报",
    "attach_photo": "添加照片",
    "request": "申请更正",
    "accept": "更正",
    "refuse": "驳回",
}
TRANSFER_KINDS = {
    "accrual": "服务奖励",
    "redemption": "兑换",
    "reversal": "冲正",
    "expiry": "过期",
    "donation": "捐赠",
    "adjustment": "调整",
}
KINDS = {"service": "志愿服务", "goods": "物资捐赠"}
URGENCY = {"1": "不急", "2": "一般", "3": "较急", "4": "紧急"}
KEY_HOUSEHOLD = {
    "elderly_alone": "独居老人",
    "disabled": "残疾",
    "serious_illness": "大病",
    "low_income": "低保",
    "left_behind_child": "留守儿童",
}
LIMIT_PERIODS = {"day": "每天", "week": "每周", "month": "每月", "year": "每年", "ever": "累计"}
LEVELS = {"0": "社区", "1": "街道", "2": "区"}
ID_KINDS = {
    "resident_id": "居民身份证",
    "passport": "护照",
    "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "residence_permit": "港澳台居民居住证",
    "foreign_permanent": "外国人永久居留身份证",
}
CERTIFICATE_STATUS = {"valid": "有效", "superseded": "已作废（记录已更正）", "unknown": "查无此证"}


def label(table: dict[str, str], key: object) -> str:
    """The Chinese word for ``key`` (an enum or its value), or the value itself."""
    value = getattr(key, "value", key)
    return table.get(str(value), str(value))


MATTER_STATES = {
    "raised": "待受理",
    "accepted": "办理中",
    "assigned": "已转派",
    "done": "已办结",
    "returned": "已退回",
    "rated": "已评价",
}
MATTER_KINDS = {"immediate": "即办清单", "staged": "阶段性事项清单", "understood": "谅解清单"}
MATTER_ACTIONS = {
    "raise": "社区吹哨",
    "take_up": "督办受理（超时升级）",
    "accept": "受理",
    "explain": "谅解说明",
    "assign_unit": "转派",
    "answer": "答复办结",
    "send_back": "退回",
    "escalate": "上报区级",
    "note": "办理进展",
    "rate": "社区评价",
}

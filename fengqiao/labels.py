"""Chinese display names for the codes users see on case views and screens."""

CHANNELS = {
    "hotline_12345": "12345热线",
    "police_110": "110警情",
    "petition": "信访",
    "court": "法院诉前委派",
    "grid": "网格上报",
    "walk_in": "窗口来访",
    "open311": "Open311",
}

LEVELS = {"city": "市级", "county": "县级", "township": "乡镇级", "village": "村级", "grid": "网格"}

CATEGORIES = {
    "marriage_family": "婚姻家庭",
    "neighbor": "邻里纠纷",
    "property_mgmt": "物业纠纷",
    "labor_wage": "劳动争议、欠薪",
    "medical": "医疗纠纷",
    "traffic": "交通事故",
    "land": "土地草场",
    "consumer": "消费纠纷",
    "finance": "民间借贷、金融纠纷",
    "campus": "校园纠纷",
    "environment": "环境污染",
    "social_security": "社保救助",
    "public_safety": "治安",
    "other": "其他",
}

MEDIATOR_GRADES = {"chief": "首席调解员", "first": "一级调解员", "ordinary": "调解员"}

ORIGINS = {"assignment": "交办", "court": "诉调对接", "police": "警调对接", "petition": "访调对接"}

OUTCOMES = {"agreement": "达成协议", "no_agreement": "调解不成", "withdrawn": "撤回调解", "transferred": "转诉讼/仲裁"}

SESSION_MODES = {"in_person": "现场", "video": "视频", "phone": "电话"}

VISIT_METHODS = {"phone": "电话回访", "in_person": "上门回访", "sms": "短信回访"}

SATISFACTION = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}

MONITORING_REASONS = {"grievance": "事了心不顺", "unresolved": "未实质化解", "volatile": "易暴雷"}

MEDIATION_DEADLINES = {"mediation_target": "调解期限", "obligation": "履行期限",
                       "confirmation_window": "司法确认申请期限", "court_acceptance": "法院受理期限",
                       "court_ruling": "法院裁定期限"}
